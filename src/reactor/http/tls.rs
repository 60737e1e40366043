//! HTTPS on the API and metrics listeners (`api_tls`, `metrics_tls`; feature `tls`): rustls
//! server connections driven by the loop like any other socket — non-blocking reads and
//! writes, never a thread. The crypto provider is the heartbeat's (AES-GCM suites only, ring),
//! with a key provider that loads the server's private key.
//!
//! A [`TlsStream`] looks to `stream.rs` like a plain stream: `read` gives plaintext (or
//! `WouldBlock` while the handshake goes on), `write` takes plaintext. TLS bytes that the
//! socket could not take yet stay in rustls and go out on [`TlsStream::flush`], which the
//! connection calls whenever the socket is writable. A plain-HTTP request to the TLS port gets a
//! plain-text 400 that says so, and the connection closes.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::crypto::{CryptoProvider, KeyProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, ServerConnection, WebPkiClientVerifier};
use rustls::sign::SigningKey;

use crate::config::model::{ClientAuth, TlsSettings};

/// The answer to a plain-HTTP request on a TLS port (what Go's net/http says, too).
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\
Connection: close\r\n\r\nThis port speaks HTTPS: use https://\n";

/// Loads the certificate chain and key (and the client CA) of `key` (`api_tls`,
/// `metrics_tls`) into a server configuration; the error names the file and what is wrong.
pub fn server_config(t: &TlsSettings, key: &str) -> Result<Arc<ServerConfig>, String> {
    let read = |what: &str, path: &str| -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| format!("{key}.{what} {path}: {e}"))
    };
    let pem = read("cert_file", &t.cert_file)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{key}.cert_file {}: {e:?}", t.cert_file))?;
    if certs.is_empty() {
        return Err(format!(
            "{key}.cert_file {}: no PEM certificate in it",
            t.cert_file
        ));
    }
    let pem = read("key_file", &t.key_file)?;
    let private = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "{key}.key_file {}: no PEM private key in it ({e:?})",
            t.key_file
        )
    })?;
    let provider = Arc::new(CryptoProvider {
        key_provider: &ServerKeys,
        ..(*crate::heartbeat::tls::provider()).clone()
    });
    let versions: &[&rustls::SupportedProtocolVersion] = if t.min_version >= 13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("{key}: {e}"))?;
    // Client certificates are always verified against ca_file: `require` without one would
    // take any certificate at all, which is no check; it is refused here.
    let ca = match (&t.ca_file, t.client_auth) {
        (_, ClientAuth::None) => None,
        (Some(ca), _) => Some(ca),
        (None, ClientAuth::Request) => None,
        (None, _) => {
            return Err(format!(
                "{key}.client_auth: {} needs ca_file (client certificates are verified)",
                t.client_auth.as_str()
            ));
        }
    };
    let builder = match ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let pem = read("ca_file", ca)?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| format!("{key}.ca_file {ca}: {e:?}"))?;
                roots
                    .add(c)
                    .map_err(|e| format!("{key}.ca_file {ca}: {e}"))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = if t.client_auth != ClientAuth::Request {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("{key}.ca_file {ca}: {e}"))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(certs, private)
        .map_err(|e| format!("{key}: the key does not fit the certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Loads server keys (RSA, ECDSA P-256/P-384) with ring: unlike the heartbeat's client, a
/// server must sign its handshake. Ed25519 keys are not offered (no browser or public CA uses
/// them; their signing code cost 8 KB of the binary).
#[derive(Debug)]
struct ServerKeys;

impl KeyProvider for ServerKeys {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        use rustls::crypto::ring::sign;
        match sign::RsaSigningKey::new(&key_der) {
            Ok(rsa) => Ok(Arc::new(rsa)),
            Err(_) => sign::any_ecdsa_type(&key_der),
        }
    }
}

/// One server connection: the socket and its TLS state.
pub struct TlsStream {
    sock: TcpStream,
    tls: ServerConnection,
    /// The first bytes have been looked at (TLS, or a plain-HTTP request).
    sniffed: bool,
}

impl TlsStream {
    pub fn new(sock: TcpStream, config: &Arc<ServerConfig>) -> io::Result<TlsStream> {
        let tls = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        Ok(TlsStream {
            sock,
            tls,
            sniffed: false,
        })
    }

    pub fn source(&mut self) -> &mut TcpStream {
        &mut self.sock
    }

    /// Plaintext received; `WouldBlock` while the socket has nothing (or only handshake).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.sniffed {
            self.sniff()?;
        }
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed without close_notify: an end like any other for a server.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.tls.read_tls(&mut self.sock)? == 0 {
                return Ok(0);
            }
            let processed = self.tls.process_new_packets();
            // Handshake answers, or the alert that says why we give up.
            let _ = self.flush();
            processed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
    }

    /// A TLS record starts with its content type (22 = handshake); a plain-HTTP client
    /// starts with a method name. That client gets a readable 400 instead of TLS garbage.
    fn sniff(&mut self) -> io::Result<()> {
        let mut first = [0u8; 1];
        match self.sock.peek(&mut first) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        self.sniffed = true;
        if first[0].is_ascii_uppercase() {
            let _ = self.sock.write(PLAIN_HTTP_ANSWER);
            let _ = self.sock.shutdown(std::net::Shutdown::Write);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "plain HTTP on a TLS port",
            ));
        }
        Ok(())
    }

    /// Takes plaintext. Refuses (`WouldBlock`) while earlier TLS bytes still wait for the
    /// socket, so rustls's buffer stays bounded by one write.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush()?;
        // (An answer exists only after a request, so after the handshake: rustls never holds
        // more than this one write's plaintext.)
        let n = self.tls.writer().write(buf)?;
        match self.flush() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    /// Sends queued TLS bytes; `WouldBlock` when some must wait for the socket.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether TLS bytes still wait for the socket.
    pub fn pending(&self) -> bool {
        self.tls.wants_write()
    }

    /// The end of our answer: close_notify, then the TCP half-close.
    pub fn shutdown_write(&mut self) {
        self.tls.send_close_notify();
        let _ = self.flush();
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
    }
}
