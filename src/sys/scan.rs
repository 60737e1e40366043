//! The byte classes log processing looks for, 16 bytes at a time (see `sys::simd`, whose
//! fallback arithmetic the non-x86-64 builds share): redaction's first pass and level
//! detection. Compiled with feature `log-processing` only.

#[cfg(not(target_arch = "x86_64"))]
use super::simd::{H, splat, words, zero_bytes};

/// The classes of bytes redaction's first pass looks for (see `logproc::redact`).
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

impl Classes {
    /// The masks shifted down by `by` bits (0..16): the chunk's first `by` bytes drop out.
    #[inline(always)]
    pub fn down(self, by: u32) -> Classes {
        Classes {
            colon: self.colon >> by,
            equal: self.equal >> by,
            at: self.at >> by,
            digit: self.digit >> by,
            sep: self.sep >> by,
        }
    }
}

/// Where `c` has `:`, `=`, `@`, digits, spaces and dashes.
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

#[cfg(test)]
mod tests {
    use super::*;

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
