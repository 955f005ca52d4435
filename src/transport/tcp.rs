//! Making connections: TCP, with TLS on top for `https://` endpoints.

use std::sync::Arc;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::{ClientConfig, RootCertStore};

/// A connector that speaks TLS for `https://` URIs (when `config` is given) and plain TCP
/// for `http://` ones; `http2_only` for gRPC (ALPN "h2").
///
/// Its sockets have Nagle's algorithm off (`TCP_NODELAY`: a request's last segment leaves
/// at once instead of waiting for the previous one's acknowledgement); nothing else is
/// changed on them.
pub(super) fn connector(
    config: Option<Arc<ClientConfig>>,
    http2_only: bool,
) -> HttpsConnector<HttpConnector> {
    let config = match config {
        Some(config) => (*config).clone(),
        // Plain endpoints never start TLS; the connector still wants a configuration.
        None => {
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        }
    };
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http();
    if http2_only {
        builder.enable_http2().wrap_connector(tcp)
    } else {
        builder.enable_http1().wrap_connector(tcp)
    }
}
