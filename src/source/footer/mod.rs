//! The footer layer: linear-time checks of the Thrift bytes of a shard's footer and page
//! headers before arrow-rs parses them.

pub(crate) mod thrift;
