//! A FastCGI client, sans-IO: the bytes of one GET request (BEGIN_REQUEST, PARAMS, an empty
//! STDIN) and a push decoder for the answer (STDOUT until END_REQUEST). Just enough of the
//! FastCGI 1.0 specification to ask php-fpm for its status page; the socket side lives on the
//! event loop.

const VERSION: u8 = 1;
const BEGIN_REQUEST: u8 = 1;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const RESPONDER: u16 = 1;
const REQUEST_ID: u16 = 1;
/// Largest answer kept (php-fpm's full status with many workers is a few KiB).
pub const MAX_ANSWER: usize = 256 * 1024;

fn header(out: &mut Vec<u8>, kind: u8, len: usize) {
    let len = len as u16;
    out.extend_from_slice(&[VERSION, kind]);
    out.extend_from_slice(&REQUEST_ID.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
}

fn pair_len(out: &mut Vec<u8>, n: usize) {
    if n < 128 {
        out.push(n as u8);
    } else {
        out.extend_from_slice(&((n as u32) | 0x8000_0000).to_be_bytes());
    }
}

/// The bytes of a GET request for `path?query` with the given CGI parameters.
pub fn request(path: &str, query: &str) -> Vec<u8> {
    let mut params = Vec::new();
    for (k, v) in [
        ("GATEWAY_INTERFACE", "FastCGI/1.0"),
        ("REQUEST_METHOD", "GET"),
        ("SCRIPT_NAME", path),
        ("SCRIPT_FILENAME", path),
        ("REQUEST_URI", path),
        ("DOCUMENT_URI", path),
        ("QUERY_STRING", query),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
    ] {
        pair_len(&mut params, k.len());
        pair_len(&mut params, v.len());
        params.extend_from_slice(k.as_bytes());
        params.extend_from_slice(v.as_bytes());
    }
    let mut out = Vec::with_capacity(params.len() + 48);
    header(&mut out, BEGIN_REQUEST, 8);
    out.extend_from_slice(&RESPONDER.to_be_bytes());
    out.extend_from_slice(&[0; 6]);
    // Our parameters are short: one record (a value over 64 KiB would need several).
    for chunk in params.chunks(u16::MAX as usize) {
        header(&mut out, PARAMS, chunk.len());
        out.extend_from_slice(chunk);
    }
    header(&mut out, PARAMS, 0);
    header(&mut out, STDIN, 0);
    out
}

#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// Not FastCGI (wrong version byte): the address is not a FastCGI listener.
    NotFastCgi,
    TooLong,
    /// The application ended the request with a non-zero status.
    Status(u32),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotFastCgi => f.write_str("the peer does not speak FastCGI"),
            Error::TooLong => f.write_str("the answer is too long"),
            Error::Status(s) => write!(f, "the request ended with status {s}"),
        }
    }
}

/// The answer being received.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    stdout: Vec<u8>,
    done: bool,
}

impl Decoder {
    /// Takes received bytes; `Ok(true)` once the request has ended.
    pub fn push(&mut self, data: &[u8]) -> Result<bool, Error> {
        self.buf.extend_from_slice(data);
        loop {
            if self.done {
                return Ok(true);
            }
            if self.buf.len() < 8 {
                return Ok(false);
            }
            if self.buf[0] != VERSION {
                return Err(Error::NotFastCgi);
            }
            let kind = self.buf[1];
            let len = usize::from(u16::from_be_bytes([self.buf[4], self.buf[5]]));
            let total = 8 + len + usize::from(self.buf[6]);
            if self.buf.len() < total {
                return Ok(false);
            }
            let body = &self.buf[8..8 + len];
            match kind {
                STDOUT => {
                    if self.stdout.len() + body.len() > MAX_ANSWER {
                        return Err(Error::TooLong);
                    }
                    self.stdout.extend_from_slice(body);
                }
                END_REQUEST if body.len() >= 5 => {
                    let app = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    if app != 0 || body[4] != 0 {
                        return Err(Error::Status(app.max(u32::from(body[4]))));
                    }
                    self.done = true;
                }
                // STDERR (a PHP warning) and unknown records are skipped.
                _ => {}
            }
            self.buf.drain(..total);
        }
    }

    /// The CGI answer's body (after its headers), once done.
    pub fn body(&self) -> Option<&[u8]> {
        if !self.done {
            return None;
        }
        let s = &self.stdout;
        let cut = s
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 4)
            .or_else(|| s.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))?;
        Some(&s[cut..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const STDERR: u8 = 7;

    fn record(kind: u8, body: &[u8], pad: u8) -> Vec<u8> {
        let mut v = vec![1, kind, 0, 1];
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(&[pad, 0]);
        v.extend_from_slice(body);
        v.extend(std::iter::repeat_n(0, usize::from(pad)));
        v
    }

    #[test]
    fn request_is_begin_params_stdin() {
        let r = request("/status", "json");
        assert_eq!(&r[..8], &[1, 1, 0, 1, 0, 8, 0, 0]);
        assert_eq!(&r[8..10], &[0, 1]);
        assert_eq!(r[17], PARAMS);
        let plen = usize::from(u16::from_be_bytes([r[20], r[21]]));
        let params = &r[24..24 + plen];
        assert!(params.windows(18).any(|w| w == b"SCRIPT_NAME/status"));
        assert_eq!(
            &r[24 + plen..],
            &[1, 4, 0, 1, 0, 0, 0, 0, 1, 5, 0, 1, 0, 0, 0, 0]
        );
        // A long value takes the four-byte length form.
        let long = "x".repeat(200);
        let r = request(&long, "");
        assert!(r.windows(4).any(|w| w == [0x80, 0, 0, 200]));
    }

    #[test]
    fn decodes_split_answers_with_padding() {
        let mut all = record(STDOUT, b"Content-type: application/json\r\n\r\n{\"a\":", 3);
        all.extend(record(STDERR, b"warning", 0));
        all.extend(record(STDOUT, b"1}", 6));
        all.extend(record(END_REQUEST, &[0, 0, 0, 0, 0, 0, 0, 0], 0));
        let mut d = Decoder::default();
        for (n, b) in all.iter().enumerate() {
            assert_eq!(d.push(&[*b]), Ok(n == all.len() - 1), "byte {n}");
        }
        assert_eq!(d.body(), Some(&b"{\"a\":1}"[..]));
    }

    #[test]
    fn refuses_what_is_not_fastcgi_or_failed() {
        assert_eq!(
            Decoder::default().push(b"HTTP/1.1 400 Bad Request\r\n"),
            Err(Error::NotFastCgi)
        );
        let mut d = Decoder::default();
        assert_eq!(
            d.push(&record(END_REQUEST, &[0, 0, 0, 0, 3, 0, 0, 0], 0)),
            Err(Error::Status(3))
        );
        let mut d = Decoder::default();
        let big = vec![b'x'; 60_000];
        let mut r = Ok(false);
        for _ in 0..5 {
            r = d.push(&record(STDOUT, &big, 0));
        }
        assert_eq!(r, Err(Error::TooLong));
    }
}
