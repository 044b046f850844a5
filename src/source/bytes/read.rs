//! Reading a [`ByteSource`] as a stream, and finding [`Changed`] in an error.

use std::error::Error as StdError;
use std::io::{self, Read};
use std::sync::Arc;

use super::{ByteSource, Changed};

/// A reader of a [`ByteSource`] from some offset to its end; at the end it fails with
/// `UnexpectedEof` rather than returning 0 bytes (arrow-rs's Thrift reader skips an unknown
/// field with `io::copy`, which against a reader that quietly returns 0 spins for minutes).
#[derive(Debug)]
pub(crate) struct ReadAt {
    source: Arc<dyn ByteSource>,
    pos: u64,
    end: u64,
}

impl ReadAt {
    /// A reader from byte `pos` to the end; `None` when `pos` is past the end.
    pub fn new(source: Arc<dyn ByteSource>, pos: u64) -> Option<Self> {
        let end = source.len();
        (pos <= end).then_some(ReadAt { source, pos, end })
    }
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.end {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read up to byte {} of a {}-byte file", self.pos + 1, self.end),
            ));
        }
        let n = (buf.len() as u64).min(self.end - self.pos) as usize;
        self.source.read_exact_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The [`Changed`] somewhere in `error`'s chain of causes (inside an `io::Error` too).
pub(crate) fn changed_in<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a Changed> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(changed) = e.downcast_ref::<Changed>() {
            return Some(changed);
        }
        // An io::Error's source() skips the error it wraps: look inside it.
        let inner = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref);
        if let Some(changed) = inner.and_then(|i| i.downcast_ref::<Changed>()) {
            return Some(changed);
        }
        next = e.source();
    }
    None
}
