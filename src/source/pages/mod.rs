//! The pages layer: a block's column chunks in memory ([`chunks`]), where their pages are
//! ([`page_map`]), and the plain pages of flat numeric columns ([`plain`], [`rle`]).

pub(crate) mod chunks;
pub(crate) mod page_map;
pub(crate) mod plain;
pub(crate) mod rle;
