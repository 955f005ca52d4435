//! TLS material that rotates: CA, client certificate and key files are read again when
//! they change, on the next new connection, against a mutual-TLS receiver that records
//! the client certificate each connection presented.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use otlpmetric::{Config, ErrorKind, Exporter, LogLevel, Protocol, RetryPolicy};
use prost::Message;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use support::sample_resource_metrics;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

/// A fresh directory with a CA, a server certificate for 127.0.0.1 and a client pair.
fn certificates(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "otlpmetric-tls-rotation-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(root().join("tools/otelcol/gen-certs.sh"))
        .arg(&dir)
        .output()
        .expect("tools/otelcol/gen-certs.sh (needs openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    TempDir(dir)
}

fn first_cert(path: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// Replaces `to` with a copy of `from` in one step (as cert-manager swaps files).
fn rotate(from: &Path, to: &Path) {
    let staging = to.with_extension("new");
    std::fs::copy(from, &staging).unwrap();
    std::fs::rename(&staging, to).unwrap();
}

/// An OTLP/HTTP receiver over TLS that asks every connection for a client certificate
/// signed by one of `client_cas`, answers every request with an empty success and
/// closes the connection (so that each upload makes a new one), and records the client
/// certificate of each connection.
struct TlsReceiver {
    addr: SocketAddr,
    clients: Arc<Mutex<Vec<Vec<u8>>>>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsReceiver {
    fn start(server_dir: &Path, client_cas: &[&Path]) -> TlsReceiver {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for ca in client_cas {
            roots
                .add(CertificateDer::from_pem_file(ca).unwrap())
                .unwrap();
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .unwrap();
        let certs = CertificateDer::pem_file_iter(server_dir.join("server.crt"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(server_dir.join("server.key")).unwrap();
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let recorded = clients.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, recorded) = (acceptor.clone(), recorded.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    if let Some(cert) = tls.get_ref().1.peer_certificates().and_then(|c| c.first())
                    {
                        recorded.lock().unwrap().push(cert.to_vec());
                    }
                    let service = service_fn(|_request| async {
                        let mut response = Response::new(Full::new(bytes::Bytes::new()));
                        *response.status_mut() = StatusCode::OK;
                        Ok::<_, Infallible>(response)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        TlsReceiver {
            addr,
            clients,
            _runtime: runtime,
        }
    }

    fn endpoint(&self) -> String {
        format!("https://{}/v1/metrics", self.addr)
    }

    fn clients(&self) -> Vec<Vec<u8>> {
        self.clients.lock().unwrap().clone()
    }
}

type Logs = Arc<Mutex<Vec<(LogLevel, String)>>>;

/// An exporter for `receiver` with the TLS files of `live`, retrying not at all.
fn exporter_for(receiver: &TlsReceiver, live: &Path) -> (Exporter, Logs) {
    let mut config = Config::from_lookup(&|_| None);
    config.set_endpoint(&receiver.endpoint()).unwrap();
    config.set_protocol(Protocol::HttpProtobuf);
    config
        .set_retry(RetryPolicy {
            enabled: false,
            ..RetryPolicy::default()
        })
        .unwrap();
    config.set_timeout(Duration::from_secs(5));
    config
        .set_tls(
            Some(&live.join("ca.crt")),
            Some(&live.join("client.crt")),
            Some(&live.join("client.key")),
        )
        .unwrap();
    let logs: Logs = Arc::default();
    let sink = logs.clone();
    config.set_log_callback(Some(Arc::new(move |level, message: &str| {
        sink.lock().unwrap().push((level, message.to_string()))
    })));
    (Exporter::new(&config).unwrap(), logs)
}

/// A directory holding copies of `from`'s CA and client pair: the files the exporter uses.
fn live_copy(from: &Path, name: &str) -> TempDir {
    let live = from.with_file_name(format!(
        "{}-live-{name}",
        from.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&live);
    std::fs::create_dir_all(&live).unwrap();
    for file in ["ca.crt", "client.crt", "client.key"] {
        std::fs::copy(from.join(file), live.join(file)).unwrap();
    }
    TempDir(live)
}

fn upload(exporter: &Exporter) -> otlpmetric::Result<()> {
    exporter.upload(&sample_resource_metrics(3).encode_to_vec(), None)
}

#[test]
fn a_rotated_client_certificate_is_used_by_the_next_connection() {
    let (a, b) = (certificates("client-a"), certificates("client-b"));
    let receiver = TlsReceiver::start(&a, &[&a.join("ca.crt"), &b.join("ca.crt")]);
    let live = live_copy(&a, "client");
    let (exporter, logs) = exporter_for(&receiver, &live);

    upload(&exporter).unwrap();
    rotate(&b.join("client.key"), &live.join("client.key"));
    rotate(&b.join("client.crt"), &live.join("client.crt"));
    upload(&exporter).unwrap();

    let clients = receiver.clients();
    assert_eq!(
        clients,
        vec![
            first_cert(&a.join("client.crt")),
            first_cert(&b.join("client.crt"))
        ]
    );
    assert!(logs
        .lock()
        .unwrap()
        .iter()
        .all(|(level, _)| *level > LogLevel::Warn));
}

#[test]
fn a_rotated_ca_file_is_used_by_the_next_connection() {
    let (a, b) = (certificates("ca-a"), certificates("ca-b"));
    let receiver = TlsReceiver::start(&a, &[&a.join("ca.crt")]);
    // The exporter starts with the wrong CA: the server's certificate is not trusted.
    let live = live_copy(&a, "ca");
    std::fs::copy(b.join("ca.crt"), live.join("ca.crt")).unwrap();
    let (exporter, _logs) = exporter_for(&receiver, &live);
    let err = upload(&exporter).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Export, "{err}");
    assert!(receiver.clients().is_empty());

    rotate(&a.join("ca.crt"), &live.join("ca.crt"));
    upload(&exporter).unwrap();
    assert_eq!(receiver.clients(), vec![first_cert(&a.join("client.crt"))]);
}

#[test]
fn a_reload_that_fails_keeps_the_material_in_use_and_warns_naming_the_file() {
    let (a, b) = (certificates("bad-a"), certificates("bad-b"));
    let receiver = TlsReceiver::start(&a, &[&a.join("ca.crt"), &b.join("ca.crt")]);
    let live = live_copy(&a, "bad");
    let (exporter, logs) = exporter_for(&receiver, &live);

    // Half a rotation: the new certificate with the old key does not form an identity.
    rotate(&b.join("client.crt"), &live.join("client.crt"));
    upload(&exporter).unwrap();
    // A CA file that is not PEM.
    std::fs::write(live.join("ca.crt.new"), "not a certificate").unwrap();
    std::fs::rename(live.join("ca.crt.new"), live.join("ca.crt")).unwrap();
    upload(&exporter).unwrap();

    let a_client = first_cert(&a.join("client.crt"));
    assert_eq!(receiver.clients(), vec![a_client.clone(), a_client]);
    let warnings: Vec<String> = logs
        .lock()
        .unwrap()
        .iter()
        .filter(|(level, _)| *level == LogLevel::Warn)
        .map(|(_, m)| m.clone())
        .collect();
    let client_crt = live.join("client.crt").display().to_string();
    let ca_crt = live.join("ca.crt").display().to_string();
    assert!(
        warnings
            .iter()
            .any(|m| m.contains(&client_crt) && m.contains("kept")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|m| m.contains(&ca_crt) && m.contains("kept")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .all(|m| !m.contains("BEGIN") && !m.contains("not a certificate")),
        "{warnings:?}"
    );

    // Completing the rotation later is picked up.
    rotate(&b.join("client.key"), &live.join("client.key"));
    rotate(&a.join("ca.crt"), &live.join("ca.crt"));
    upload(&exporter).unwrap();
    assert_eq!(
        receiver.clients().last(),
        Some(&first_cert(&b.join("client.crt")))
    );
}
