//! Cutting a child's byte stream into lines: complete lines end at `\n` (not included); a line
//! longer than [`MAX_LINE`] is emitted in pieces, all but the last marked partial, cut on a
//! UTF-8 character boundary where one is near.

use crate::config::model::MAX_LINE;

/// The unfinished tail of one pipe's stream.
#[derive(Default)]
pub struct Lines {
    carry: Vec<u8>,
}

impl Lines {
    /// Feeds bytes; `emit(line, partial)` is called for every record they complete.
    pub fn feed(&mut self, mut data: &[u8], emit: &mut dyn FnMut(&[u8], bool)) {
        while let Some(pos) = newline(data) {
            let seg = &data[..pos];
            if self.carry.is_empty() {
                emit_capped(seg, emit);
            } else {
                self.carry.extend_from_slice(seg);
                let line = std::mem::take(&mut self.carry);
                emit_capped(&line, emit);
                self.carry = line;
                self.carry.clear();
            }
            data = &data[pos + 1..];
        }
        self.carry.extend_from_slice(data);
        // Emit whole pieces of an over-long unfinished line right away.
        let mut start = 0;
        while self.carry.len() - start > MAX_LINE {
            let cut = boundary(&self.carry[start..]);
            emit(&self.carry[start..start + cut], true);
            start += cut;
        }
        if start > 0 {
            self.carry.drain(..start);
        }
        if self.carry.is_empty() && self.carry.capacity() > 2 * MAX_LINE {
            self.carry = Vec::new();
        }
    }

    /// The stream ended: emits what is left as a last line.
    pub fn finish(&mut self, emit: &mut dyn FnMut(&[u8], bool)) {
        if !self.carry.is_empty() {
            let line = std::mem::take(&mut self.carry);
            emit_capped(&line, emit);
        }
    }
}

/// The first `\n` in `s`, looked for 16 bytes at a time (`sys::simd`: a byte loop was a fifth
/// of a log flood's time; musl's `memchr` is not much faster on lines this short).
#[inline]
fn newline(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(c) = s.get(i..).and_then(<[u8]>::first_chunk::<16>) {
        let m = crate::sys::simd::eq_mask(c, b'\n');
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    // The last 0 to 15 bytes.
    match crate::sys::simd::from(s, i, |c| crate::sys::simd::eq_mask(c, b'\n')) {
        Some((0, _)) => None,
        Some((m, _)) => Some(i + m.trailing_zeros() as usize),
        None => s[i..].iter().position(|&b| b == b'\n').map(|p| i + p),
    }
}

fn emit_capped(mut line: &[u8], emit: &mut dyn FnMut(&[u8], bool)) {
    while line.len() > MAX_LINE {
        let cut = boundary(line);
        emit(&line[..cut], true);
        line = &line[cut..];
    }
    emit(line, false);
}

/// Where to cut a piece of at most MAX_LINE bytes: before a UTF-8 continuation byte run if
/// one starts within the last 3 bytes, so a character is not split in two.
fn boundary(s: &[u8]) -> usize {
    if s.len() <= MAX_LINE {
        return s.len();
    }
    let mut cut = MAX_LINE;
    while cut > MAX_LINE - 3 && (s[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    if (s[cut] & 0xC0) == 0x80 {
        MAX_LINE
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut l = Lines::default();
        let mut out = Vec::new();
        for c in chunks {
            l.feed(c, &mut |s, p| out.push((s.to_vec(), p)));
        }
        l.finish(&mut |s, p| out.push((s.to_vec(), p)));
        out
    }

    #[test]
    fn finds_newlines_at_every_offset() {
        for len in 0..70 {
            for at in 0..=len {
                let mut v = vec![b'a'; len];
                if at < len {
                    v[at] = b'\n';
                }
                let want = v.iter().position(|&b| b == b'\n');
                assert_eq!(newline(&v), want, "len {len} at {at}");
            }
        }
        assert_eq!(newline("é\u{80}\n".as_bytes()), Some(4));
    }

    #[test]
    fn joins_lines_across_chunks() {
        let out = run(&[b"hel", b"lo\nwor", b"ld\n", b"tail"]);
        assert_eq!(
            out,
            vec![
                (b"hello".to_vec(), false),
                (b"world".to_vec(), false),
                (b"tail".to_vec(), false)
            ]
        );
    }

    #[test]
    fn splits_long_lines_and_keeps_every_byte() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let mut input = long.clone();
        input.push(b'\n');
        let out = run(&[&input[..1000], &input[1000..]]);
        assert_eq!(out.len(), 3);
        assert!(out[0].1 && out[1].1 && !out[2].1);
        let joined: Vec<u8> = out.iter().flat_map(|(s, _)| s.clone()).collect();
        assert_eq!(joined, long);
    }

    #[test]
    fn does_not_cut_characters() {
        let mut s = vec![b'a'; MAX_LINE - 1];
        s.extend_from_slice("é".as_bytes());
        s.extend_from_slice(b"z\n");
        let out = run(&[&s]);
        for (piece, _) in &out {
            assert!(std::str::from_utf8(piece).is_ok());
        }
        let joined: Vec<u8> = out.iter().flat_map(|(s, _)| s.clone()).collect();
        assert_eq!(joined, s[..s.len() - 1]);
    }
}
