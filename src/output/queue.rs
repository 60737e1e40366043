//! The output queue's bytes, and the copies that fill it on the hot path of a log flood.
//!
//! Profiling a flood of short lines (perf, static musl build) put a third of the manager's time
//! in musl's `memcpy`: it aligns the destination byte by byte and then starts `rep movsq`,
//! which costs tens of cycles before the first byte for the 5- to 100-byte pieces a record is
//! made of. So the queue is a buffer that is zero-filled once as it grows (`end` marks the
//! bytes queued, the length how far it was ever filled) and records are written into it with
//! fixed-size 8- and 16-byte moves the compiler emits inline: [`Queue::put`] for text that needs no
//! escaping (cached record heads, constants), [`Queue::put_json`] for a JSON string literal,
//! which scans for bytes to escape 8 at a time and copies each clean word as it goes. Copies
//! of 256 bytes and more still go to `memcpy`, where `rep movsq` pays off.

/// Bytes of a 64-bit word, each holding `b`.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}
const LOW: u64 = splat(0x01);
const HIGH: u64 = splat(0x80);

/// Whether any byte of `w` needs escaping in a JSON string: below 0x20, `"` or `\`.
#[inline(always)]
fn needs_escape(w: u64) -> bool {
    // The classic "has a byte less than n" and "has a zero byte" tests (exact for any byte).
    let below = w.wrapping_sub(splat(0x20)) & !w & HIGH;
    let q = w ^ splat(b'"');
    let quote = q.wrapping_sub(LOW) & !q & HIGH;
    let s = w ^ splat(b'\\');
    let slash = s.wrapping_sub(LOW) & !s & HIGH;
    below | quote | slash != 0
}

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
    /// a word at a time, the rest escaped byte by byte.
    pub fn put_json(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let src = s.as_bytes();
        // Worst case: every byte becomes \u00XX.
        self.room(src.len() * 6);
        let buf = &mut self.buf[..];
        let mut o = self.end;
        let mut i = 0;
        while i < src.len() {
            if i + 8 <= src.len() {
                let w = load::<8>(src, i);
                if !needs_escape(u64::from_ne_bytes(w)) {
                    store::<8>(buf, o, w);
                    o += 8;
                    i += 8;
                    continue;
                }
            }
            // A word with something to escape (or the tail): byte by byte to its end.
            let stop = (i + 8).min(src.len());
            while i < stop {
                let c = src[i];
                i += 1;
                let esc = match c {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'\n' => b'n',
                    b'\r' => b'r',
                    b'\t' => b't',
                    0x20.. => {
                        buf[o] = c;
                        o += 1;
                        continue;
                    }
                    _ => {
                        store::<6>(
                            buf,
                            o,
                            [
                                b'\\',
                                b'u',
                                b'0',
                                b'0',
                                HEX[(c >> 4) as usize],
                                HEX[(c & 15) as usize],
                            ],
                        );
                        o += 6;
                        continue;
                    }
                };
                buf[o] = b'\\';
                buf[o + 1] = esc;
                o += 2;
            }
        }
        self.end = o;
    }
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
        // Every special byte at every offset of a word.
        for off in 0..17 {
            for c in ['"', '\\', '\n', '\u{0}', '\u{1f}', 'é'] {
                let mut s = "abcdefghijklmnopq".to_owned();
                s.insert(off, c);
                cases.push(s);
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
