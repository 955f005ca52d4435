//! One rustls client configuration for both transports: the configured CA (or the
//! system roots), and a client certificate for mutual TLS.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use crate::config::Settings;
use crate::error::{Error, Result};

/// The TLS configuration for `settings`, or `None` when the endpoint is plain `http://`
/// (or gRPC with `insecure`).
pub(super) fn client_config(settings: &Settings) -> Result<Option<Arc<ClientConfig>>> {
    if settings.endpoint.scheme_str() != Some("https") || settings.insecure {
        return Ok(None);
    }
    let tls = &settings.tls;
    let mut roots = RootCertStore::empty();
    match &tls.ca {
        // Every certificate was checked to be a valid trust anchor when it was configured.
        Some(ca) => {
            roots.add_parsable_certificates(ca.certs.iter().cloned());
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(Error::invalid(
                    "TLS: no system root certificates found; set a CA file",
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let config = match &tls.client {
        Some(identity) => builder
            .with_client_auth_cert(identity.cert.certs.clone(), identity.key.key())
            .map_err(|e| {
                Error::invalid(format!(
                    "TLS client certificate {} and key {} do not form a valid identity: {e}",
                    identity.cert.path.display(),
                    identity.key.path.display()
                ))
            })?,
        None => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}
