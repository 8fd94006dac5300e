//! The command API over TLS (rustls), with client certificates when a client CA is configured (mutual
//! TLS): a connection without a certificate signed by that CA is refused during the handshake, before any
//! request is read. Bearer tokens still name the identity on top.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Where the TLS command API listens and with which certificates (files already resolved).
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub listen: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Clients must present a certificate signed by this CA (PEM); `None`: server authentication only.
    pub client_ca: Option<PathBuf>,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file = |message: String| TlsError::File { path: path.to_path_buf(), message };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file(format!("cannot read certificates: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| file(format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(file("holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// The acceptor for `s`: the server's certificate chain and key, and the client verifier.
pub fn acceptor(s: &TlsSettings) -> Result<TlsAcceptor, TlsError> {
    let provider = crate::crypto::ring_provider();
    let key = PrivateKeyDer::from_pem_file(&s.key)
        .map_err(|e| TlsError::File { path: s.key.clone(), message: format!("not a PEM private key: {e}") })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &s.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| TlsError::File { path: ca.clone(), message: format!("not a CA certificate: {e}") })?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs(&s.cert)?, key)
        .map_err(|e| TlsError::Config(format!("{} and {}: {e}", s.cert.display(), s.key.display())))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` over TLS on `listener` until `stop` turns true. A handshake that fails (no client
/// certificate, one from another CA, not TLS at all) or takes over 10 s closes that connection only.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("command API (TLS): accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(%peer, "command API (TLS): handshake refused: {e}");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "command API (TLS): handshake timed out");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(tls), service);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "command API (TLS): connection: {e}");
            }
        });
    }
}
