//! The output queue's bytes, and the copies that fill it on the hot path of a log flood.
//!
//! Profiling a flood of short lines (perf, static musl build) put a third of the manager's time
//! in musl's `memcpy`: it aligns the destination byte by byte and then starts `rep movsq`,
//! which costs tens of cycles before the first byte for the 5- to 100-byte pieces a record is
//! made of. So the queue is a buffer that is zero-filled once as it grows (`end` marks the
//! bytes queued, the length how far it was ever filled) and records are written into it with
//! fixed-size 8- and 16-byte moves the compiler emits inline: [`Queue::put`] for text that needs no
//! escaping (cached record heads, constants), [`Queue::put_json`] for a JSON string literal,
//! which finds the bytes to escape 16 at a time (SSE2, `sys::simd`) and copies each clean chunk
//! as it goes. Copies of 256 bytes and more still go to `memcpy`, where `rep movsq` pays off.

/// `N` bytes of `s` from `at` (callers check the length first).
#[inline(always)]
fn load<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
    match s.get(at..).and_then(<[u8]>::first_chunk::<N>) {
        Some(w) => *w,
        None => [0; N],
    }
}

/// Writes `w` at `at` (callers make room first). A fixed-size array store: one or two moves,
/// never a call (`copy_from_slice` is not inlined at `opt-level = "z"` and would end in
/// `memcpy` with a run-time length).
#[inline(always)]
fn store<const N: usize>(d: &mut [u8], at: usize, w: [u8; N]) {
    if let Some(c) = d.get_mut(at..).and_then(<[u8]>::first_chunk_mut::<N>) {
        *c = w;
    }
}

/// Copies `src` to `dst[at..]` with inline moves for short copies.
#[inline(always)]
fn copy(dst: &mut [u8], at: usize, src: &[u8]) {
    let n = src.len();
    if n >= 256 {
        dst[at..at + n].copy_from_slice(src);
    } else if n >= 16 {
        let mut i = 0;
        while i + 16 <= n {
            store::<16>(dst, at + i, load::<16>(src, i));
            i += 16;
        }
        if i < n {
            // The last 16 bytes again, overlapping what was copied.
            store::<16>(dst, at + n - 16, load::<16>(src, n - 16));
        }
    } else if n >= 8 {
        let (a, b) = (load::<8>(src, 0), load::<8>(src, n - 8));
        store::<8>(dst, at, a);
        store::<8>(dst, at + n - 8, b);
    } else {
        for (k, c) in src.iter().enumerate() {
            dst[at + k] = *c;
        }
    }
}

/// Bytes waiting for stdout: `buf[head..end]`. `buf` is zero-filled up to its length, the
/// high-water mark of bytes ever written: growing it zeroes only the bytes about to be
/// written (so resident memory follows what was really queued), and its capacity grows by
/// `realloc` (no copy of a large buffer: musl moves its pages with `mremap`).
pub struct Queue {
    buf: Vec<u8>,
    pub head: usize,
    pub end: usize,
}

impl Queue {
    pub fn with_capacity(n: usize) -> Queue {
        Queue {
            buf: Vec::with_capacity(n),
            head: 0,
            end: 0,
        }
    }

    /// The queued bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.head..self.end]
    }

    pub fn len(&self) -> usize {
        self.end - self.head
    }

    /// Makes room for `n` more bytes.
    #[inline]
    pub fn room(&mut self, n: usize) {
        if self.end + n <= self.buf.len() {
            return;
        }
        self.grow(n);
    }

    #[inline(never)]
    fn grow(&mut self, n: usize) {
        if self.head > 0 {
            self.buf.copy_within(self.head..self.end, 0);
            self.end -= self.head;
            self.head = 0;
        }
        if self.end + n > self.buf.len() {
            self.buf.resize(self.end + n, 0);
        }
    }

    /// Forgets every queued byte; gives memory back after a burst that grew the buffer.
    pub fn clear(&mut self, keep: usize, limit: usize) {
        self.head = 0;
        self.end = 0;
        if self.buf.capacity() > limit {
            self.buf = Vec::with_capacity(keep);
        }
    }

    /// After a partial write: drops the written bytes from the front when that frees much.
    pub fn compact(&mut self) {
        if self.head > self.end / 2 {
            self.buf.copy_within(self.head..self.end, 0);
            self.end -= self.head;
            self.head = 0;
        }
    }

    /// Appends bytes that need no escaping.
    #[inline]
    pub fn put(&mut self, s: &[u8]) {
        self.room(s.len());
        copy(&mut self.buf, self.end, s);
        self.end += s.len();
    }

    #[inline]
    pub fn push(&mut self, c: u8) {
        self.room(1);
        self.buf[self.end] = c;
        self.end += 1;
    }

    /// Appends `s` as the inside of a JSON string literal (no quotes): clean runs are copied
    /// 16 bytes at a time (the chunk's bytes to escape found by [`crate::sys::simd`]), the
    /// rest escaped byte by byte.
    pub fn put_json(&mut self, s: &str) {
        let src = s.as_bytes();
        // Worst case: every byte becomes \u00XX.
        self.room(src.len() * 6);
        let buf = &mut self.buf[..];
        let mut o = self.end;
        let mut i = 0;
        while let Some(c) = src.get(i..).and_then(<[u8]>::first_chunk::<16>) {
            let m = crate::sys::simd::json_special(c);
            // The whole chunk is stored either way (the room reserved covers it); the output
            // position then moves past the clean bytes only.
            store::<16>(buf, o, *c);
            if m == 0 {
                o += 16;
                i += 16;
                continue;
            }
            let k = m.trailing_zeros() as usize;
            o += k;
            o = escape(buf, o, src[i + k]);
            i += k + 1;
        }
        // The last 0 to 15 bytes.
        let rest = &src[i..];
        let clean = matches!(
            crate::sys::simd::from(src, i, crate::sys::simd::json_special),
            Some((0, _))
        );
        if clean {
            copy(buf, o, rest);
            o += rest.len();
        } else {
            for &c in rest {
                if c >= 0x20 && c != b'"' && c != b'\\' {
                    buf[o] = c;
                    o += 1;
                } else {
                    o = escape(buf, o, c);
                }
            }
        }
        self.end = o;
    }
}

/// Writes `c` (a byte a JSON string must escape) escaped at `o`; returns the position after.
/// All six bytes are stored (the room reserved covers them); the next write covers the rest.
#[inline(never)]
fn escape(buf: &mut [u8], o: usize, c: u8) -> usize {
    let (e, n) = super::json_escape(c);
    store::<6>(buf, o, e);
    o + n
}

impl super::Put for Queue {
    fn extend_from_slice(&mut self, s: &[u8]) {
        self.put(s);
    }

    fn push(&mut self, c: u8) {
        Queue::push(self, c);
    }

    fn json_inner(&mut self, s: &str) {
        self.put_json(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_length() {
        let src: Vec<u8> = (0..300u32).map(|i| (i * 7 + 1) as u8).collect();
        for n in 0..src.len() {
            let mut q = Queue::with_capacity(4);
            q.put(b"x");
            q.put(&src[..n]);
            assert_eq!(q.bytes()[1..], src[..n], "length {n}");
        }
    }

    #[test]
    fn json_matches_the_reference_escaper() {
        let mut cases = vec![
            String::new(),
            "plain ascii text that is longer than one word".to_owned(),
            "a\"b\\c\nd\u{1}é\t\r\u{1f}~\u{7f}".to_owned(),
        ];
        // Every special byte at every offset of lines of every length to past two chunks,
        // alone and with a second one 17 bytes further.
        let base = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF";
        for len in 0..base.len() {
            for off in 0..=len {
                for c in ['"', '\\', '\n', '\u{0}', '\u{1f}', 'é', '\u{7f}'] {
                    let mut s = base[..len].to_owned();
                    s.insert(off, c);
                    cases.push(s.clone());
                    if off + 17 <= s.len() {
                        s.insert(off + 17, '\t');
                        cases.push(s);
                    }
                }
            }
        }
        for s in cases {
            let mut q = Queue::with_capacity(1);
            q.push(b'"');
            q.put_json(&s);
            q.push(b'"');
            let mut v = Vec::new();
            super::super::json_str(&mut v, &s);
            assert_eq!(q.bytes(), &v[..], "{s:?}");
        }
    }

    #[test]
    fn grows_and_compacts() {
        let mut q = Queue::with_capacity(8);
        q.put(b"0123456789");
        q.head = 6;
        q.put(b"abcdefghijklmnop");
        assert_eq!(q.bytes(), b"6789abcdefghijklmnop");
        q.compact();
        assert_eq!((q.head, q.bytes()), (0, &b"6789abcdefghijklmnop"[..]));
    }
}
