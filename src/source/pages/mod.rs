//! The pages layer: a block's column chunks in memory ([`chunks`]), where their pages are
//! ([`page_map`]), the plain pages of flat numeric columns ([`plain`], [`rle`]), and those of
//! tensor (list) columns ([`repeated`]), both decompressing Snappy and Zstandard pages themselves
//! ([`codec`]); what the blocks of a row group share ([`shared`]).

pub(crate) mod chunks;
pub(crate) mod codec;
pub(crate) mod page_map;
pub(crate) mod plain;
pub(crate) mod repeated;
pub(crate) mod rle;
pub(crate) mod shared;
#[doc(hidden)]
pub mod snappy;
