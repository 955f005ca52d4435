//! TLS material, read from PEM files and checked when it is configured, whatever the
//! endpoint: the transports only assemble a rustls configuration from it. Messages name
//! the files, never their content.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, RootCertStore};

use crate::error::{Error, Result};

/// TLS material for `https://` endpoints. Empty: the system roots and no client
/// certificate.
#[derive(Clone, Debug, Default)]
pub struct TlsMaterial {
    /// CA certificates that replace the system roots.
    pub(crate) ca: Option<PemCertificates>,
    /// Client certificate and key for mutual TLS.
    pub(crate) client: Option<ClientIdentity>,
}

/// The certificates of one PEM file: at least one, each valid.
#[derive(Clone, Debug)]
pub(crate) struct PemCertificates {
    pub(crate) path: PathBuf,
    pub(crate) certs: Vec<CertificateDer<'static>>,
}

/// The private key of one PEM file. Its `Debug` shows the file only.
pub(crate) struct PemPrivateKey {
    pub(crate) path: PathBuf,
    key: PrivateKeyDer<'static>,
}

/// A client certificate chain and the private key of its first certificate.
#[derive(Clone, Debug)]
pub(crate) struct ClientIdentity {
    pub(crate) cert: PemCertificates,
    pub(crate) key: PemPrivateKey,
}

impl PemPrivateKey {
    /// A copy of the key, for a rustls configuration.
    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

impl Clone for PemPrivateKey {
    fn clone(&self) -> Self {
        PemPrivateKey {
            path: self.path.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for PemPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemPrivateKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Reads and checks the files; `what` (the setting or the variables) starts messages.
    /// A client certificate and key come together or not at all.
    pub(super) fn load(
        what: &str,
        ca_file: Option<&Path>,
        client_cert_file: Option<&Path>,
        client_key_file: Option<&Path>,
    ) -> Result<Self> {
        let client_files = match (client_cert_file, client_key_file) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(Error::invalid(format!(
                    "{what}: a client certificate and a client key are needed together"
                )))
            }
        };
        let ca = ca_file
            .map(|path| PemCertificates::load_ca(what, path))
            .transpose()?;
        let client = client_files
            .map(|(cert, key)| ClientIdentity::load(what, cert, key))
            .transpose()?;
        Ok(TlsMaterial { ca, client })
    }
}

/// What messages about a file read again start with.
const RELOAD: &str = "TLS reload";

impl PemCertificates {
    /// The CA file at `path` read and checked again (the file changed).
    pub(crate) fn reload_ca(path: &Path) -> Result<Self> {
        Self::load_ca(RELOAD, path)
    }

    /// CA certificates: each must be usable as a trust anchor.
    fn load_ca(what: &str, path: &Path) -> Result<Self> {
        let ca = Self::load(what, "CA", path)?;
        let mut roots = RootCertStore::empty();
        for cert in &ca.certs {
            roots.add(cert.clone()).map_err(|e| {
                Error::invalid(format!(
                    "{what}: CA file {}: not a valid CA certificate: {e}",
                    path.display()
                ))
            })?;
        }
        Ok(ca)
    }

    fn load(what: &str, role: &str, path: &Path) -> Result<Self> {
        let pem = read_file(what, role, path)?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::invalid(format!(
                    "{what}: {role} file {}: {}",
                    path.display(),
                    pem_problem(&e)
                ))
            })?;
        if certs.is_empty() {
            return Err(Error::invalid(format!(
                "{what}: {role} file {}: no PEM certificate found",
                path.display()
            )));
        }
        Ok(PemCertificates {
            path: path.to_path_buf(),
            certs,
        })
    }
}

impl ClientIdentity {
    /// The certificate and key files read and checked again (one of them changed).
    pub(crate) fn reload(&self) -> Result<Self> {
        Self::load(RELOAD, &self.cert.path, &self.key.path)
    }

    fn load(what: &str, cert_file: &Path, key_file: &Path) -> Result<Self> {
        let cert = PemCertificates::load(what, "client certificate", cert_file)?;
        let pem = read_file(what, "client key", key_file)?;
        let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
            let why = match e {
                pem::Error::NoItemsFound => "no PEM private key found",
                e => pem_problem(&e),
            };
            Error::invalid(format!(
                "{what}: client key file {}: {why}",
                key_file.display()
            ))
        })?;
        // The checks rustls makes when it builds the client configuration, done now so
        // that each problem names its file. The ring provider is the transports' one.
        let provider = rustls::crypto::ring::default_provider();
        let signing_key = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| {
                Error::invalid(format!(
                    "{what}: client key file {}: not a usable private key: {e}",
                    key_file.display()
                ))
            })?;
        ParsedCertificate::try_from(&cert.certs[0]).map_err(|e| {
            Error::invalid(format!(
                "{what}: client certificate file {}: not a valid certificate: {e}",
                cert_file.display()
            ))
        })?;
        match CertifiedKey::new(cert.certs.clone(), signing_key).keys_match() {
            // As rustls does: a key that cannot tell its public half is not refused.
            Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
            Err(e) => {
                return Err(Error::invalid(format!(
                    "{what}: client certificate {} and key {} do not form a valid identity: {e}",
                    cert_file.display(),
                    key_file.display()
                )))
            }
        }
        Ok(ClientIdentity {
            cert,
            key: PemPrivateKey {
                path: key_file.to_path_buf(),
                key,
            },
        })
    }
}

/// Reads the `role` file of setting `what`; the message names the file, never its content.
fn read_file(what: &str, role: &str, path: &Path) -> Result<Vec<u8>> {
    let bytes = fs::read(path).map_err(|e| {
        Error::invalid(format!(
            "{what}: cannot read {role} file {}: {e}",
            path.display()
        ))
    })?;
    if bytes.is_empty() {
        return Err(Error::invalid(format!(
            "{what}: {role} file {} is empty",
            path.display()
        )));
    }
    Ok(bytes)
}

/// What is wrong with a PEM file, without quoting it (pki-types' messages quote lines).
fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "not valid PEM: a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "not valid PEM: a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "not valid PEM: a section's body is not base64",
        pem::Error::SectionTooLarge => "not valid PEM: a section is too large",
        _ => "not valid PEM",
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::OnceLock;

    use super::super::Config;
    use crate::error::ErrorKind;

    use super::*;

    /// Text in the bad files that no message may repeat.
    const MARK: &str = "SECRETMARK";
    /// A PEM body that is not base64.
    const NOT_BASE64: &str = "!!SECRETMARK!!";
    /// A PEM body that is base64 ("SECRETMARK") but no certificate or key.
    const NOT_DER: &str = "U0VDUkVUTUFSSw==";

    /// A directory with a CA, a server and a client certificate and key (made by the
    /// project's `tools/otelcol/gen-certs.sh`, as the interop tests do), and bad files.
    fn dir() -> &'static Path {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!(
                "otlpmetric-config-tls-{}-{nanos}",
                std::process::id()
            ));
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/otelcol/gen-certs.sh");
            let out = Command::new(&script)
                .arg(&dir)
                .output()
                .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
            assert!(
                out.status.success(),
                "{}: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            for (label, body) in [("CERTIFICATE", NOT_BASE64), ("PRIVATE KEY", NOT_BASE64)] {
                let name = format!("{}-not-base64.pem", label.replace(' ', "-").to_lowercase());
                fs::write(
                    dir.join(name),
                    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"),
                )
                .unwrap();
            }
            for (label, body) in [("CERTIFICATE", NOT_DER), ("PRIVATE KEY", NOT_DER)] {
                let name = format!("{}-not-der.pem", label.replace(' ', "-").to_lowercase());
                fs::write(
                    dir.join(name),
                    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"),
                )
                .unwrap();
            }
            fs::write(dir.join("no-pem.txt"), format!("{MARK}\n")).unwrap();
            dir
        })
    }

    fn file(name: &str) -> PathBuf {
        dir().join(name)
    }

    /// `set_tls` with these files (None = not given) on a plain `http://` endpoint.
    fn set_tls(ca: Option<&str>, cert: Option<&str>, key: Option<&str>) -> Result<()> {
        let mut config = Config::from_vars(&[]);
        config.set_endpoint("http://127.0.0.1:4318/v1/metrics")?;
        config.set_tls(
            ca.map(file).as_deref(),
            cert.map(file).as_deref(),
            key.map(file).as_deref(),
        )
    }

    /// `resolve` of a config whose environment names these files.
    fn resolve_env(ca: Option<&str>, cert: Option<&str>, key: Option<&str>) -> Result<()> {
        let names: Vec<(&str, String)> = [
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca),
            ("OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", cert),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key),
        ]
        .into_iter()
        .filter_map(|(var, name)| Some((var, file(name?).to_str()?.to_string())))
        .collect();
        let vars: Vec<(&str, &str)> = names.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Config::from_vars(&vars).resolve().map(drop)
    }

    /// The error names `bad` and quotes nothing of any file.
    fn assert_refused_naming(result: Result<()>, bad: &str, why: &str) {
        let err = result.expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        let message = err.message();
        assert!(message.contains(&*file(bad).to_string_lossy()), "{message}");
        assert!(message.contains(why), "{why:?} not in {message}");
        for content in [MARK, NOT_DER, "BEGIN", "MII"] {
            assert!(!message.contains(content), "{content:?} in {message}");
        }
    }

    #[test]
    fn a_garbage_pem_body_in_any_of_the_three_files_is_refused_naming_the_file() {
        for (ca, cert, key, bad) in [
            (
                Some("certificate-not-base64.pem"),
                None,
                None,
                "certificate-not-base64.pem",
            ),
            (
                None,
                Some("certificate-not-base64.pem"),
                Some("client.key"),
                "certificate-not-base64.pem",
            ),
            (
                None,
                Some("client.crt"),
                Some("private-key-not-base64.pem"),
                "private-key-not-base64.pem",
            ),
        ] {
            assert_refused_naming(set_tls(ca, cert, key), bad, "not base64");
            assert_refused_naming(resolve_env(ca, cert, key), bad, "not base64");
        }
    }

    #[test]
    fn base64_that_is_no_certificate_or_key_is_refused_naming_the_file() {
        for (ca, cert, key, bad, why) in [
            (
                Some("certificate-not-der.pem"),
                None,
                None,
                "certificate-not-der.pem",
                "not a valid CA certificate",
            ),
            (
                None,
                Some("certificate-not-der.pem"),
                Some("client.key"),
                "certificate-not-der.pem",
                "not a valid certificate",
            ),
            (
                None,
                Some("client.crt"),
                Some("private-key-not-der.pem"),
                "private-key-not-der.pem",
                "not a usable private key",
            ),
        ] {
            assert_refused_naming(set_tls(ca, cert, key), bad, why);
            assert_refused_naming(resolve_env(ca, cert, key), bad, why);
        }
    }

    #[test]
    fn files_without_the_pem_they_need_are_refused_naming_them() {
        assert_refused_naming(
            set_tls(Some("no-pem.txt"), None, None),
            "no-pem.txt",
            "no PEM certificate found",
        );
        assert_refused_naming(
            set_tls(None, Some("no-pem.txt"), Some("client.key")),
            "no-pem.txt",
            "no PEM certificate found",
        );
        // A certificate where the key should be.
        assert_refused_naming(
            set_tls(None, Some("client.crt"), Some("ca.crt")),
            "ca.crt",
            "no PEM private key found",
        );
    }

    #[test]
    fn a_certificate_and_a_key_that_do_not_match_are_refused() {
        assert_refused_naming(
            set_tls(None, Some("client.crt"), Some("server.key")),
            "server.key",
            "do not form a valid identity",
        );
    }

    #[test]
    fn a_matching_certificate_and_key_are_accepted_and_kept_parsed() {
        set_tls(Some("ca.crt"), Some("client.crt"), Some("client.key")).unwrap();
        resolve_env(Some("ca.crt"), Some("client.crt"), Some("client.key")).unwrap();
        let tls = TlsMaterial::load(
            "test",
            Some(&file("ca.crt")),
            Some(&file("client.crt")),
            Some(&file("client.key")),
        )
        .unwrap();
        assert_eq!(tls.ca.as_ref().unwrap().certs.len(), 1);
        let client = tls.client.as_ref().unwrap();
        assert_eq!(client.cert.path, file("client.crt"));
        assert_eq!(client.key.path, file("client.key"));
        let shown = format!("{tls:?}");
        assert!(
            shown.contains("client.key") && !shown.contains("MII"),
            "{shown}"
        );
    }

    #[test]
    fn a_refused_tls_setting_leaves_the_config_unchanged() {
        let mut config = Config::from_vars(&[]);
        config.set_tls(Some(&file("ca.crt")), None, None).unwrap();
        config
            .set_tls(
                None,
                Some(&file("client.crt")),
                Some(&file("private-key-not-base64.pem")),
            )
            .unwrap_err();
        let tls = config.resolve().unwrap().tls;
        assert_eq!(tls.ca.unwrap().path, file("ca.crt"));
        assert!(tls.client.is_none());
    }
}
