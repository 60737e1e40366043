//! Sixteen bytes of a log line classified at once: the log path's two scans (where a line ends,
//! which bytes a JSON string must escape) run on every byte a child writes. On x86-64 this is
//! SSE2, which every x86-64 CPU has and every x86_64 Rust target enables; elsewhere (arm64)
//! the same masks come from 8-byte word arithmetic.
//!
//! A mask has bit `k` set when byte `k` of the chunk matches. The classes only log processing
//! asks for are in `sys::scan`.

/// `classify` (one of the functions below) applied to the bytes of `s` from `i`, at most 16 of
/// them: the mask and how many bytes it covers. When fewer than 16 follow, the last 16 of `s`
/// are classified and the mask shifted down to the bytes from `i`. `None` when `s` is shorter
/// than 16 bytes (the caller looks at those few bytes one by one).
#[inline(always)]
pub fn from(s: &[u8], i: usize, classify: impl Fn(&[u8; 16]) -> u32) -> Option<(u32, usize)> {
    if let Some(c) = s.get(i..).and_then(<[u8]>::first_chunk::<16>) {
        return Some((classify(c), 16));
    }
    let n = s.len().checked_sub(i)?;
    let c = last16(s)?;
    Some((classify(c) >> (16 - n), n))
}

/// The last 16 bytes of `s`, if it has that many. `<[u8]>::last_chunk` does the same, but at
/// `opt-level = "z"` it stayed a call (with `split_at` behind it), made four times per line
/// (callgrind).
#[inline(always)]
pub fn last16(s: &[u8]) -> Option<&[u8; 16]> {
    s.get(s.len().checked_sub(16)?..)?.first_chunk::<16>()
}

/// Bytes of `c` that a JSON string must escape: below 0x20, `"` and `\`.
#[inline(always)]
pub fn json_special(c: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline (rustc enables it for every x86_64
        // target, so these intrinsics are always available); the unaligned load reads exactly
        // the 16 bytes `c` refers to.
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast());
            // v <= 0x1f (unsigned): max(v, 0x1f) == 0x1f.
            let low = _mm_set1_epi8(0x1f);
            let ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, low), low);
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            _mm_movemask_epi8(_mm_or_si128(ctl, _mm_or_si128(quote, slash))) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        words(c, |w| {
            let below = w.wrapping_sub(splat(0x20)) & !w & H;
            below | zero_bytes(w ^ splat(b'"')) | zero_bytes(w ^ splat(b'\\'))
        })
    }
}

/// Bytes of `c` equal to `b`.
#[inline(always)]
pub fn eq_mask(c: &[u8; 16], b: u8) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: as in `json_special`: SSE2 is always there on x86_64, and the load reads
        // the 16 bytes of `c`.
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8))) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        words(c, |w| zero_bytes(w ^ splat(b)))
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) const H: u64 = splat(0x80);

#[cfg(not(target_arch = "x86_64"))]
pub(super) const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of every zero byte of `x` (exact).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(super) fn zero_bytes(x: u64) -> u64 {
    !(((x & !H) + splat(0x7f)) | x) & H
}

/// A 16-bit mask from a per-word test that sets the high bit of each matching byte.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(super) fn words(c: &[u8; 16], f: impl Fn(u64) -> u64) -> u32 {
    let (a, b) = c.split_at(8);
    let bits = |half: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(half);
        // High bits 7, 15, …, 63 to bits 0…7: each byte's flag lands in its own bit of the
        // top byte of the product.
        ((f(u64::from_le_bytes(w)) >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    };
    bits(a) | (bits(b) << 8)
}

/// `s` as text when it is valid UTF-8. Log lines are mostly ASCII, which is recognised 16
/// bytes at a time and needs no further check (`std::str::from_utf8` spent about 130
/// instructions on a 75-byte line); anything else goes through `std::str::from_utf8`.
pub fn text(s: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if ascii(s) {
        // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(s) });
    }
    std::str::from_utf8(s)
}

/// Whether every byte of `s` is below 0x80.
fn ascii(s: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(last) = last16(s) {
        use core::arch::x86_64::{_mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128};
        // SAFETY: SSE2 is part of the x86_64 baseline (see `json_special`); every load reads
        // the 16 bytes of a chunk of `s` (whole chunks, then the last 16 bytes, which may
        // overlap the chunk before).
        unsafe {
            let mut acc = _mm_loadu_si128(last.as_ptr().cast());
            for c in s.chunks_exact(16) {
                acc = _mm_or_si128(acc, _mm_loadu_si128(c.as_ptr().cast()));
            }
            // The high bit of every byte: set for a byte of 0x80 or more.
            return _mm_movemask_epi8(acc) == 0;
        }
    }
    s.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_agrees_with_std_at_every_length_and_position() {
        let base: Vec<u8> = (0..70u8).map(|i| b'a' + i % 26).collect();
        for n in 0..base.len() {
            assert_eq!(
                text(&base[..n]),
                std::str::from_utf8(&base[..n]),
                "ascii {n}"
            );
            for at in 0..n {
                for bad in [&b"\xe9"[..], b"\xc3\xa9", b"\xff", b"\x80"] {
                    let mut v = base[..n].to_vec();
                    v.splice(at..at + 1, bad.iter().copied());
                    assert_eq!(text(&v), std::str::from_utf8(&v), "{bad:?} at {at} of {n}");
                }
            }
        }
    }

    #[test]
    fn masks_match_every_byte_at_every_position() {
        for c in 0..=255u8 {
            for at in 0..16 {
                let mut v = *b"abcdefghijklmnop";
                v[at] = c;
                let special = c < 0x20 || c == b'"' || c == b'\\';
                assert_eq!(json_special(&v), u32::from(special) << at, "{c:#x} at {at}");
                assert_eq!(
                    eq_mask(&v, b'\n'),
                    u32::from(c == b'\n') << at,
                    "{c:#x} at {at}"
                );
            }
        }
        assert_eq!(json_special(&[0; 16]), 0xffff);
        assert_eq!(eq_mask(&[b'\n'; 16], b'\n'), 0xffff);
    }
}
