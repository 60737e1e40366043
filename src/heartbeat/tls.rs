//! HTTPS for pings (feature `tls`): every ping gets rustls with ring and an explicit, smaller
//! crypto provider (AES-GCM suites only, no ChaCha20-Poly1305), and either the bundled webpki
//! roots or, with `heartbeat.ca_file`, that file's certificates instead.
//!
//! Why a provider of our own: ring's `default_provider()` (what ureq's `rustls` feature built
//! when pings went through ureq) lists every suite ring has; linking ChaCha20-Poly1305 (generic, SSE4.1 and AVX2 code) costs
//! tens of KiB for a suite every HTTPS server also offers AES-GCM beside. Security is unchanged:
//! TLS 1.3 and 1.2 stay on, only AEAD suites with ECDHE, certificate verification as before.

use std::sync::Arc;

use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::{
    CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::SigningKey;
use rustls::{ClientConfig, ClientConnection, RootCertStore, SignatureScheme, StreamOwned};
use webpki::ring as alg;

use super::stream::{Stream, Timed};

/// The TLS setup of one ping: our provider, and the roots of `ca_pem` when given (they
/// replace the bundled ones for that task), else the bundled webpki roots.
pub struct Client(Arc<ClientConfig>);

pub fn client(ca_pem: Option<&[u8]>) -> Result<Client, String> {
    let roots = match ca_pem {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(certificates(pem)?);
            roots
        }
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Client(Arc::new(config)))
}

impl Client {
    /// The TLS session over `sock`, handshake done (so a refused certificate is reported as such).
    pub fn connect(&self, host: &str, sock: Timed) -> Result<Box<dyn Stream>, String> {
        let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host:?}: {e}"))?;
        let conn = ClientConnection::new(Arc::clone(&self.0), name).map_err(|e| e.to_string())?;
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| format!("TLS handshake: {e}"))?;
        }
        Ok(Box::new(stream))
    }
}

/// ring with TLS 1.3 and TLS 1.2 ECDHE AES-GCM suites (strongest first, as rustls orders
/// them) and the key exchanges X25519, P-256, P-384. Built field by field, not from ring's
/// `default_provider()`: naming that would link every suite it lists (the point of this file).
/// The HTTPS listeners (`src/reactor/http/tls.rs`) take it too, with a key provider that loads keys.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &Ring,
        key_provider: &Ring,
    })
}

/// Certificate and handshake signatures we verify: the same list as rustls's ring provider
/// (its static is private), so no server that verified before fails now.
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P384_SHA384,
        alg::ED25519,
        alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        alg::RSA_PKCS1_2048_8192_SHA256,
        alg::RSA_PKCS1_2048_8192_SHA384,
        alg::RSA_PKCS1_2048_8192_SHA512,
        alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        // For TLS 1.2 the curve is not fixed by the scheme; for TLS 1.3 it is.
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
        ),
        (SignatureScheme::ED25519, &[alg::ED25519]),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA512,
            &[alg::RSA_PKCS1_2048_8192_SHA512],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[alg::RSA_PKCS1_2048_8192_SHA384],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA256,
            &[alg::RSA_PKCS1_2048_8192_SHA256],
        ),
    ],
};

/// Random numbers from ring, as in rustls's ring provider (whose type for them is private).
#[derive(Debug)]
struct Ring;

impl SecureRandom for Ring {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new()
            .fill(buf)
            .map_err(|_| GetRandomFailed)
    }
}

/// Private keys are only loaded for client certificates, which pings never send (no key sets
/// one). Refusing here, instead of ring's `any_supported_type`, leaves ring's RSA, ECDSA and
/// Ed25519 *signing* code out of the binary; verifying servers' signatures is untouched.
impl KeyProvider for Ring {
    fn load_private_key(
        &self,
        _key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "client certificates are not supported".to_owned(),
        ))
    }
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ca_file: {e}"))?;
    if certs.is_empty() {
        return Err("ca_file holds no certificate".to_owned());
    }
    Ok(certs)
}
