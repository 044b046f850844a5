//! Fuzz target: shardmix's Snappy block decompressor (`shardmix::snappy`, the direct decode
//! path's) against the `snap` crate's (arrow-rs's). The first byte picks what the rest is:
//!
//! - even: a Snappy block as is (arbitrary or mutated bytes). Both must claim the same length
//!   and both accept it, with the same bytes, or both refuse it.
//! - odd: data, compressed by `snap`'s encoder (the rest's second half repeated, to make long
//!   copies at small offsets), optionally with one byte then flipped. The unmutated block must
//!   decompress to the data; a mutated one as `snap` decides.
//!
//! Any disagreement, and any panic or out-of-bounds access (AddressSanitizer), is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Claimed lengths above this are skipped (both decompressors would just allocate).
const MAX_LEN: usize = 1 << 22;

/// Both decompressors on `block`: `Some(bytes)` when both accept it, `None` when both refuse it.
fn both(block: &[u8]) -> Option<Vec<u8>> {
    let ours = shardmix::snappy::len(block);
    let theirs = snap::raw::decompress_len(block).ok().filter(|_| !block.is_empty());
    assert_eq!(ours, theirs, "claimed length of {block:?}");
    let len = ours?;
    if len > MAX_LEN {
        return None;
    }
    let mut a = vec![0u8; len];
    let mut b = vec![0xa5u8; len];
    let snap_ok = snap::raw::Decoder::new().decompress(block, &mut a).is_ok_and(|n| n == len);
    let ours_ok = shardmix::snappy::decompress(block, &mut b).is_some();
    assert_eq!(ours_ok, snap_ok, "accepted by shardmix: {ours_ok}, by snap: {snap_ok}: {block:?}");
    if ours_ok {
        assert!(a == b, "different bytes from {block:?}");
    }
    ours_ok.then_some(b)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        both(rest);
        return;
    }
    // The data: the first half, then the second half repeated (mode >> 1) times.
    let (head, tail) = rest.split_at(rest.len() / 2);
    let mut plain = head.to_vec();
    for _ in 0..(mode >> 1) {
        plain.extend_from_slice(tail);
    }
    let mut block = snap::raw::Encoder::new().compress_vec(&plain).expect("snap compresses any data");
    // A flip: position and bits from the data's first bytes, when those are not zero.
    let flip = head.first().copied().unwrap_or(0);
    if flip != 0 && !block.is_empty() {
        let at = usize::from(head.get(1).copied().unwrap_or(0)) * 257 % block.len();
        block[at] ^= flip;
        both(&block);
    } else {
        assert_eq!(both(&block).as_deref(), Some(&plain[..]), "round trip");
    }
});
