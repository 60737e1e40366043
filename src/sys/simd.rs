//! Sixteen bytes of a log line classified at once: the log path's two scans (where a line ends,
//! which bytes a JSON string must escape) run on every byte a child writes. On x86-64 this is
//! SSE2, which every x86-64 CPU has and every x86_64 Rust target enables; elsewhere (arm64)
//! the same masks come from 8-byte word arithmetic.
//!
//! A mask has bit `k` set when byte `k` of the chunk matches.

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

/// The classes of bytes redaction's first pass looks for (see `logproc::redact`).
#[cfg(feature = "log-processing")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Classes {
    pub colon: u32,
    pub equal: u32,
    pub at: u32,
    /// ASCII digits.
    pub digit: u32,
    /// Spaces and dashes (the separators a card number may have between its digits).
    pub sep: u32,
}

/// Where `c` has `:`, `=`, `@`, digits, spaces and dashes.
#[cfg(feature = "log-processing")]
#[inline(always)]
pub fn classes(c: &[u8; 16]) -> Classes {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8, _mm_sub_epi8,
        };
        // SAFETY: as in `json_special`: SSE2 is always there on x86_64, and the load reads
        // the 16 bytes of `c`.
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast());
            let eq = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
            let bits = |m: __m128i| _mm_movemask_epi8(m) as u32;
            // v - '0' <= 9 (unsigned): max(x, 9) == 9.
            let nine = _mm_set1_epi8(9);
            let x = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
            Classes {
                colon: bits(eq(b':')),
                equal: bits(eq(b'=')),
                at: bits(eq(b'@')),
                digit: bits(_mm_cmpeq_epi8(_mm_max_epu8(x, nine), nine)),
                sep: bits(_mm_or_si128(eq(b' '), eq(b'-'))),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let eq = |b: u8| words(c, |w| zero_bytes(w ^ splat(b)));
        Classes {
            colon: eq(b':'),
            equal: eq(b'='),
            at: eq(b'@'),
            digit: words(c, |w| {
                let x7 = w & !H;
                let ge0 = (x7 + splat(0x80 - b'0')) & H;
                let gt9 = (x7 + splat(0x80 - b'9' - 1)) & H;
                ge0 & !gt9 & !w
            }),
            sep: eq(b' ') | eq(b'-'),
        }
    }
}

/// ASCII letters of `c`.
#[cfg(feature = "log-processing")]
#[inline(always)]
pub fn letters(c: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8, _mm_sub_epi8,
        };
        // SAFETY: as in `json_special`: SSE2 is always there on x86_64, and the load reads
        // the 16 bytes of `c`.
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast());
            // (v | 0x20) - 'a' <= 25 (unsigned): only A-Z and a-z land there.
            let x = _mm_sub_epi8(
                _mm_or_si128(v, _mm_set1_epi8(0x20)),
                _mm_set1_epi8(b'a' as i8),
            );
            let z = _mm_set1_epi8(25);
            _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(x, z), z)) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        words(c, |w| {
            let x7 = (w | splat(0x20)) & !H;
            let ge_a = (x7 + splat(0x80 - b'a')) & H;
            let gt_z = (x7 + splat(0x80 - b'z' - 1)) & H;
            ge_a & !gt_z & !w
        })
    }
}

#[cfg(not(target_arch = "x86_64"))]
const H: u64 = splat(0x80);

#[cfg(not(target_arch = "x86_64"))]
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of every zero byte of `x` (exact).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & !H) + splat(0x7f)) | x) & H
}

/// A 16-bit mask from a per-word test that sets the high bit of each matching byte.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn words(c: &[u8; 16], f: impl Fn(u64) -> u64) -> u32 {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[cfg(feature = "log-processing")]
    #[test]
    fn classes_match_every_byte_at_every_position() {
        for c in 0..=255u8 {
            for at in 0..16 {
                let mut v = *b"abcdefghijklmnop";
                v[at] = c;
                let bit = |t: bool| u32::from(t) << at;
                let base = |b: &[u8; 16], f: fn(u8) -> bool| {
                    (0..16)
                        .filter(|&k| k != at && f(b[k]))
                        .fold(0, |m, k| m | 1 << k)
                };
                let k = classes(&v);
                assert_eq!(k.colon, bit(c == b':'), "{c:#x} at {at}");
                assert_eq!(k.equal, bit(c == b'='), "{c:#x} at {at}");
                assert_eq!(k.at, bit(c == b'@'), "{c:#x} at {at}");
                assert_eq!(k.digit, bit(c.is_ascii_digit()), "{c:#x} at {at}");
                assert_eq!(k.sep, bit(c == b' ' || c == b'-'), "{c:#x} at {at}");
                let l = base(&v, |b| b.is_ascii_alphabetic()) | bit(c.is_ascii_alphabetic());
                assert_eq!(letters(&v), l, "{c:#x} at {at}");
            }
        }
    }
}
