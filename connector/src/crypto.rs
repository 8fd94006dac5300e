//! The one TLS crypto provider of the connector (the command API's server side and the MQTT sources'
//! client side): rustls on ring.

use std::sync::Arc;

/// ring rather than aws-lc-rs: no CMake/C toolchain beyond cc on an air-gapped build machine. rustls
/// deprecates ring's provider for lacking post-quantum key exchange; the classical suites it offers are
/// rustls's safe defaults.
pub fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}
