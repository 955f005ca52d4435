//! One rustls client configuration for both transports: the configured CA (or the
//! system roots), and a client certificate for mutual TLS.
//!
//! Configured CA, certificate and key files are read again when they change (a
//! cert-manager or SPIFFE rotation needs no restart): each new connection's handshake
//! looks at the files' metadata (modification time, size, inode) and reloads what
//! changed. A reload that fails keeps the material in use and logs a warning naming the
//! file; the next change is tried again. Connections already open keep their material,
//! and sessions are not resumed (a resumed session would skip the new material).

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{ClientIdentity, PemCertificates, Settings};
use crate::error::{Error, Result};
use crate::log::Logger;

/// The TLS configuration for `settings`, or `None` when the endpoint is plain `http://`
/// (or gRPC with `insecure`).
pub(super) fn client_config(settings: &Settings) -> Result<Option<Arc<ClientConfig>>> {
    if settings.endpoint.scheme_str() != Some("https") || settings.insecure {
        return Ok(None);
    }
    let tls = &settings.tls;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid(format!("TLS: {e}")))?;
    let builder = match &tls.ca {
        Some(ca) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ReloadingVerifier::new(
                ca,
                provider.clone(),
                settings.logger.clone(),
            )?)),
        None => {
            let mut roots = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(Error::invalid(
                    "TLS: no system root certificates found; set a CA file",
                ));
            }
            builder.with_root_certificates(roots)
        }
    };
    let mut config =
        match &tls.client {
            Some(identity) => builder.with_client_cert_resolver(Arc::new(
                ReloadingClientCert::new(identity, provider, settings.logger.clone())?,
            )),
            None => builder.with_no_client_auth(),
        };
    if tls.ca.is_some() || tls.client.is_some() {
        // A resumed session skips the certificate exchange and its verification, so a
        // rotated file would not apply to the connections that resume. New connections
        // are rare (they are pooled), so a full handshake each time costs little.
        config.resumption = Resumption::disabled();
    }
    Ok(Some(Arc::new(config)))
}

/// What tells that a file changed: its metadata (through symlinks, so that a swapped
/// link counts), or `None` when it cannot be read.
#[derive(Clone, PartialEq, Eq)]
struct FileStamp(Option<(SystemTime, u64, u64, u64)>);

impl FileStamp {
    fn of(path: &Path) -> FileStamp {
        FileStamp(
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len(), m.ino(), m.dev()))),
        )
    }
}

/// A value (cheap to clone) made from files, made again when one of them changes.
struct Reloading<T> {
    files: Vec<PathBuf>,
    state: Mutex<(Vec<FileStamp>, T)>,
    load: Box<dyn Fn() -> Result<T> + Send + Sync>,
    logger: Logger,
}

impl<T: Clone> Reloading<T> {
    /// `initial`, made from `files` as they are now; `load` makes it again.
    fn new(
        files: Vec<PathBuf>,
        initial: T,
        load: impl Fn() -> Result<T> + Send + Sync + 'static,
        logger: Logger,
    ) -> Self {
        let stamps = files.iter().map(|f| FileStamp::of(f)).collect();
        Reloading {
            files,
            state: Mutex::new((stamps, initial)),
            load: Box::new(load),
            logger,
        }
    }

    /// The value for a new connection: made again first if a file changed since the
    /// last look. A failure keeps the value in use (and is not retried until a file
    /// changes again).
    fn current(&self) -> T {
        let stamps: Vec<FileStamp> = self.files.iter().map(|f| FileStamp::of(f)).collect();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if stamps != state.0 {
            state.0 = stamps;
            match (self.load)() {
                Ok(value) => {
                    state.1 = value;
                    self.logger
                        .debug(|| format!("TLS: reloaded {}", self.names()));
                }
                Err(error) => self.logger.warn(&format!(
                    "{error}; the TLS material in use is kept until the file changes again"
                )),
            }
        }
        state.1.clone()
    }

    /// The value in use, without looking at the files.
    fn in_use(&self) -> T {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    fn names(&self) -> String {
        let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        names.join(" and ")
    }
}

impl<T> fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloading")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// Verifies servers against the configured CA file, read again when it changes.
#[derive(Debug)]
struct ReloadingVerifier(Reloading<Arc<WebPkiServerVerifier>>);

impl ReloadingVerifier {
    fn new(ca: &PemCertificates, provider: Arc<CryptoProvider>, logger: Logger) -> Result<Self> {
        let path = ca.path.clone();
        let initial = verifier_for(ca, provider.clone())?;
        let load = move || verifier_for(&PemCertificates::reload_ca(&path)?, provider.clone());
        Ok(ReloadingVerifier(Reloading::new(
            vec![ca.path.clone()],
            initial,
            load,
            logger,
        )))
    }
}

fn verifier_for(
    ca: &PemCertificates,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    let mut roots = RootCertStore::empty();
    // Every certificate was checked to be a valid trust anchor when it was read.
    roots.add_parsable_certificates(ca.certs.iter().cloned());
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| {
            Error::invalid(format!(
                "TLS: CA file {}: cannot verify servers with it: {e}",
                ca.path.display()
            ))
        })
}

impl ServerCertVerifier for ReloadingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // Once per handshake, so once per new connection.
        self.0.current().verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.in_use().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.in_use().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.in_use().supported_verify_schemes()
    }
}

/// The client certificate and key files, read again when either changes.
#[derive(Debug)]
struct ReloadingClientCert(Reloading<Arc<CertifiedKey>>);

impl ReloadingClientCert {
    fn new(
        identity: &ClientIdentity,
        provider: Arc<CryptoProvider>,
        logger: Logger,
    ) -> Result<Self> {
        let initial = certified_key(identity, &provider)?;
        let files = vec![identity.cert.path.clone(), identity.key.path.clone()];
        let configured = identity.clone();
        let load = move || certified_key(&configured.reload()?, &provider);
        Ok(ReloadingClientCert(Reloading::new(
            files, initial, load, logger,
        )))
    }
}

fn certified_key(
    identity: &ClientIdentity,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>> {
    CertifiedKey::from_der(identity.cert.certs.clone(), identity.key.key(), provider)
        .map(Arc::new)
        .map_err(|e| {
            Error::invalid(format!(
                "TLS client certificate {} and key {} do not form a valid identity: {e}",
                identity.cert.path.display(),
                identity.key.path.display()
            ))
        })
}

impl ResolvesClientCert for ReloadingClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        // Once per handshake that asks for a client certificate: once per new connection.
        Some(self.0.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
