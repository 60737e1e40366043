//! The sockets of the servers: a listening socket ([`Listen`]) and a connection's byte stream
//! ([`Stream`]), each plain TCP, Unix, or TLS (`tls.rs`); binding a Unix socket safely, and a
//! TCP listener made HTTPS when its settings say so.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

pub(super) enum Listen {
    Tcp(TcpListener),
    Unix(UnixListener, String),
    /// HTTPS (`api_tls`, `metrics_tls`).
    #[cfg(feature = "tls")]
    Tls(TcpListener, std::sync::Arc<rustls::ServerConfig>),
}

pub(super) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<super::tls::TlsStream>),
}

impl Stream {
    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }

    pub(super) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    /// Sends bytes the stream holds itself (TLS records the socket could not take yet);
    /// `WouldBlock` while some remain.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => Ok(()),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }

    /// Whether it still holds bytes for the socket.
    pub(super) fn pending(&self) -> bool {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => false,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.pending(),
        }
    }

    /// Half-close: the client sees the end of our answer, we still drain what it sends.
    pub(super) fn shutdown_write(&mut self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                s.shutdown_write();
                Ok(())
            }
        };
    }

    pub(super) fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.source(),
        }
    }
}

/// The TLS settings of a TCP listener and their key's name (`api_tls`, `metrics_tls`).
pub(super) type Tls = (&'static str, crate::config::model::TlsSettings);

/// The listener for a bound TCP socket: plain, or HTTPS with its certificate loaded now (an
/// unreadable or mismatched file stops the start-up); with the address to log.
pub(super) fn secure(
    l: TcpListener,
    tls: Option<Tls>,
    bound: SocketAddr,
) -> Result<(Listen, String), String> {
    match tls {
        None => Ok((Listen::Tcp(l), bound.to_string())),
        #[cfg(feature = "tls")]
        Some((key, t)) => Ok((
            Listen::Tls(l, super::tls::server_config(&t, key)?),
            ["https://", &bound.to_string()].concat(),
        )),
        // Refused when the configuration loads; said again rather than served in plain text.
        #[cfg(not(feature = "tls"))]
        Some((key, _)) => Err(crate::features::Feature::Tls.unavailable(key)),
    }
}

/// Binds a Unix socket that is never, even for an instant, open to other users: the umask
/// makes the kernel create it 0600. A stale socket left by a previous run is removed first;
/// any other file at the path is an error.
pub(super) fn bind_unix(path: &str) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ));
        }
        Err(_) => {}
    }
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let r = UnixListener::bind(path);
    rustix::process::umask(old);
    r
}
