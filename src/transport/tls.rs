//! One rustls client configuration for both transports: the configured CA (or the
//! system roots), and a client certificate for mutual TLS.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
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
    match &tls.ca_pem {
        Some(pem) => {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| {
                    Error::invalid(format!(
                        "TLS CA file {}: not valid PEM: {e}",
                        name(settings, 0)
                    ))
                })?;
                roots.add(cert).map_err(|e| {
                    Error::invalid(format!(
                        "TLS CA file {}: bad certificate: {e}",
                        name(settings, 0)
                    ))
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(Error::invalid(format!(
                    "TLS CA file {}: no PEM certificate found",
                    name(settings, 0)
                )));
            }
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
    let config = match (&tls.client_cert_pem, &tls.client_key_pem) {
        (Some(cert_pem), Some(key_pem)) => {
            let first = usize::from(tls.ca_pem.is_some());
            let certs = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| {
                    Error::invalid(format!(
                        "TLS client certificate file {}: not valid PEM: {e}",
                        name(settings, first)
                    ))
                })?;
            if certs.is_empty() {
                return Err(Error::invalid(format!(
                    "TLS client certificate file {}: no PEM certificate found",
                    name(settings, first)
                )));
            }
            // The key's content is never put in a message, only its file name.
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
                Error::invalid(format!(
                    "TLS client key file {}: no valid PEM private key found",
                    name(settings, first + 1)
                ))
            })?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                Error::invalid(format!(
                    "TLS client certificate {} and key {} do not form a valid identity: {e}",
                    name(settings, first),
                    name(settings, first + 1)
                ))
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}

fn name(settings: &Settings, index: usize) -> String {
    settings
        .tls
        .files
        .get(index)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(unnamed)".into())
}
