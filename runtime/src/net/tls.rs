//! TLS 1.3 between the parties (rustls, ring), with pinned certificates: each side has a
//! self-signed certificate ([`keygen`]) and names the certificates it accepts from its peer
//! (the client: the server's; a server: one per client it serves, so clients are told apart
//! by fingerprint and one is revoked by removing its file). No certificate authority is
//! involved — the parties know each other's certificate out of band, as they know the plan —
//! so verification is "the peer's end-entity certificate is byte-for-byte one of these, and
//! it signed the handshake". Both directions are authenticated (the server asks for the
//! client's certificate).

use std::io;
use std::net::TcpStream;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, DigitallySignedStruct, DistinguishedName,
    ServerConfig, ServerConnection, SideData, SignatureScheme, StreamOwned,
};

use super::Transport;

/// The name both sides put in (and expect of) a certificate; verification is by pinning, so
/// it only has to be consistent.
pub const PEER_NAME: &str = "sir-peer";

/// What goes wrong with keys and certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {why}")]
    File { path: String, why: String },
    #[error("cannot make a key: {0}")]
    Keygen(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// This party's certificate and the certificates it accepts from its peer, with the TLS
/// configurations of both ends built from them once (a key that does not suit its certificate
/// is refused at load, not at the first connection).
#[derive(Clone)]
pub struct Tls {
    cert: CertificateDer<'static>,
    peers: Vec<CertificateDer<'static>>,
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &fingerprint(&self.cert))
            .field(
                "peers",
                &self
                    .peers
                    .iter()
                    .map(|p| fingerprint(p))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A certificate's BLAKE3 fingerprint (hex, first 16 bytes), for messages.
pub fn fingerprint(cert: &[u8]) -> String {
    blake3::hash(cert).as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a fresh key (`key.pem`, readable by the owner only) and its self-signed certificate
/// (`cert.pem`, to give to the peer) into `dir`. Refuses to overwrite an existing key.
pub fn keygen(dir: &Path) -> Result<(), TlsError> {
    let file_err = |p: &Path, e: io::Error| TlsError::File {
        path: p.display().to_string(),
        why: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    let (kp, cp) = (dir.join("key.pem"), dir.join("cert.pem"));
    if kp.exists() {
        return Err(TlsError::File {
            path: kp.display().to_string(),
            why: "exists already; remove it first to make a new key".into(),
        });
    }
    let ck = rcgen::generate_simple_self_signed(vec![PEER_NAME.to_string()])
        .map_err(|e| TlsError::Keygen(e.to_string()))?;
    write_private(&kp, ck.key_pair.serialize_pem().as_bytes()).map_err(|e| file_err(&kp, e))?;
    std::fs::write(&cp, ck.cert.pem()).map_err(|e| file_err(&cp, e))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}

fn read_cert(path: &Path) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        why: format!("not a PEM certificate ({e})"),
    })
}

impl Tls {
    /// Loads this party's certificate and key and the peer's certificate (PEM files).
    pub fn load(cert: &Path, key: &Path, peer: &Path) -> Result<Tls, TlsError> {
        Tls::load_peers(cert, key, &[peer.to_path_buf()])
    }

    /// Loads this party's certificate and key and every certificate it accepts: each path a
    /// PEM file or a directory whose `*.pem` files are all read (a server's clients).
    pub fn load_peers(
        cert: &Path,
        key: &Path,
        peers: &[std::path::PathBuf],
    ) -> Result<Tls, TlsError> {
        let k = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
            path: key.display().to_string(),
            why: format!("not a PEM private key ({e})"),
        })?;
        let mut certs = Vec::new();
        for p in peers {
            if p.is_dir() {
                let dir_err = |e: io::Error| TlsError::File {
                    path: p.display().to_string(),
                    why: e.to_string(),
                };
                let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(p)
                    .map_err(dir_err)?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x == "pem"))
                    .collect();
                files.sort();
                if files.is_empty() {
                    return Err(TlsError::File {
                        path: p.display().to_string(),
                        why: "holds no *.pem certificate".into(),
                    });
                }
                for f in files {
                    certs.push(read_cert(&f)?);
                }
            } else {
                certs.push(read_cert(p)?);
            }
        }
        Tls::new(read_cert(cert)?, k, certs)
    }

    /// This party's certificate's fingerprint.
    pub fn own_fingerprint(&self) -> String {
        fingerprint(&self.cert)
    }

    /// Two fresh identities that accept each other (server's, client's): for running both
    /// parties in one process (`sir simulate --tls`, benchmarks, tests).
    pub fn ephemeral_pair() -> Result<(Tls, Tls), TlsError> {
        let make = || -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), TlsError> {
            let ck = rcgen::generate_simple_self_signed(vec![PEER_NAME.to_string()])
                .map_err(|e| TlsError::Keygen(e.to_string()))?;
            let key = PrivateKeyDer::try_from(ck.key_pair.serialize_der())
                .map_err(|e| TlsError::Keygen(e.to_string()))?;
            Ok((ck.cert.der().clone(), key))
        };
        let (sc, sk) = make()?;
        let (cc, ck) = make()?;
        Ok((
            Tls::new(sc.clone(), sk, vec![cc.clone()])?,
            Tls::new(cc, ck, vec![sc])?,
        ))
    }

    /// A fresh identity of its own that accepts `peer` (tests: a stranger with a valid TLS
    /// certificate that the other side does not pin).
    pub fn ephemeral_for(peer: &Tls) -> Result<Tls, TlsError> {
        let ck = rcgen::generate_simple_self_signed(vec![PEER_NAME.to_string()])
            .map_err(|e| TlsError::Keygen(e.to_string()))?;
        let key = PrivateKeyDer::try_from(ck.key_pair.serialize_der())
            .map_err(|e| TlsError::Keygen(e.to_string()))?;
        Tls::new(ck.cert.der().clone(), key, vec![peer.cert.clone()])
    }

    fn new(
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
        peers: Vec<CertificateDer<'static>>,
    ) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pinned = Arc::new(Pinned {
            peers: peers.clone(),
            algs: provider.signature_verification_algorithms,
        });
        let config = |e: rustls::Error| TlsError::Config(e.to_string());
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config)?
            .with_client_cert_verifier(pinned.clone())
            .with_single_cert(vec![cert.clone()], key.clone_key())
            .map_err(config)?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config)?
            .dangerous()
            .with_custom_certificate_verifier(pinned)
            .with_client_auth_cert(vec![cert.clone()], key)
            .map_err(config)?;
        Ok(Tls {
            cert,
            peers,
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }

    /// The server's end of a connection, the TLS handshake completed (or failed) within the
    /// stream's timeout, with the fingerprint of the client's certificate.
    pub fn accept(&self, tcp: TcpStream) -> io::Result<(Box<dyn Transport>, String)> {
        let conn = ServerConnection::new(self.server.clone()).map_err(io::Error::other)?;
        let mut s = StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        let client = s
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| fingerprint(c))
            .unwrap_or_default();
        Ok((Box::new(s), client))
    }

    /// The client's end of a connection.
    pub fn connect(&self, tcp: TcpStream) -> io::Result<Box<dyn Transport>> {
        let name = ServerName::try_from(PEER_NAME).map_err(io::Error::other)?;
        let conn = ClientConnection::new(self.client.clone(), name).map_err(io::Error::other)?;
        finish(StreamOwned::new(conn, tcp))
    }
}

/// Drives the handshake to completion so a certificate problem surfaces here, named, rather
/// than on the first protocol message.
fn finish<C, S>(mut s: StreamOwned<C, TcpStream>) -> io::Result<Box<dyn Transport>>
where
    C: DerefMut + Deref<Target = ConnectionCommon<S>> + Send + 'static,
    S: SideData + 'static,
{
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(Box::new(s))
}

impl<C, S> Transport for StreamOwned<C, TcpStream>
where
    C: DerefMut + Deref<Target = ConnectionCommon<S>> + Send,
    S: SideData,
{
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_timeout(timeout)
    }
}

/// Accepts exactly these certificates, and signatures made with their keys.
#[derive(Debug)]
struct Pinned {
    peers: Vec<CertificateDer<'static>>,
    algs: WebPkiSupportedAlgorithms,
}

impl Pinned {
    fn check(&self, presented: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if self.peers.iter().any(|p| p.as_ref() == presented.as_ref()) {
            return Ok(());
        }
        let pinned: Vec<String> = self.peers.iter().map(|p| fingerprint(p)).collect();
        Err(rustls::Error::General(format!(
            "the peer's certificate ({}) is not one given with --peer-cert ({})",
            fingerprint(presented),
            pinned.join(", ")
        )))
    }
}

/// Only TLS 1.3 is configured: a TLS 1.2 signature is never accepted.
fn no_tls12() -> rustls::Error {
    rustls::Error::General("TLS 1.2 is not accepted".into())
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|_| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

impl ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|_| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
