//! The block decode layer: one block of one shard → row-major `f32` buffers, by arrow-rs
//! ([`arrow`]) or straight from the pages ([`direct`]); image columns ([`image`]), the
//! resolved columns ([`columns`]) and the transpose kernels ([`transpose`]).

pub(crate) mod arrow;
pub(crate) mod columns;
pub(crate) mod direct;
pub(crate) mod image;
pub(crate) mod transpose;
