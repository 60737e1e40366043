//! The byte stream of one ping attempt: [`Timed`], the socket carrying the attempt's deadline,
//! and [`Stream`], the one type of both transports — `Timed` itself for `http://`, the TLS
//! session over it (`tls.rs`) for `https://`. The HTTP client (`client.rs`) connects the socket
//! and writes and reads through the stream; the TLS client only wraps it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Both transports, behind one type.
pub trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// What is left of `deadline`, or "timed out" when nothing is.
pub(super) fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("timed out".to_owned())
    } else {
        Ok(left)
    }
}

/// The socket with the attempt's deadline: every read and write may wait only for what is left.
pub struct Timed {
    pub(super) sock: TcpStream,
    pub(super) deadline: Instant,
}

impl Timed {
    fn left(&self) -> io::Result<Duration> {
        remaining(self.deadline).map_err(|_| io::ErrorKind::TimedOut.into())
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.set_read_timeout(Some(self.left()?))?;
        self.sock.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.set_write_timeout(Some(self.left()?))?;
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}
