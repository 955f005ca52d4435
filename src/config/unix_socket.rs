//! Unix domain socket paths: the one `set_unix_socket` takes and the gRPC `unix:` targets
//! an endpoint may name.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// A Unix socket path must fit `sockaddr_un.sun_path` with its terminating NUL.
const MAX_UNIX_PATH_BYTES: usize = 107;

/// Checks a Unix socket path: not empty, no NUL, short enough for `sun_path`.
pub(super) fn check_unix_socket_path(path: &str) -> Result<PathBuf> {
    if path.is_empty() {
        return Err(Error::invalid("unix socket path is empty"));
    }
    if path.contains('\0') {
        return Err(Error::invalid(format!(
            "unix socket path {path:?} contains a NUL byte"
        )));
    }
    if path.len() > MAX_UNIX_PATH_BYTES {
        return Err(Error::invalid(format!(
            "unix socket path {path:?} is {} bytes, over the {MAX_UNIX_PATH_BYTES} a socket \
             address holds",
            path.len()
        )));
    }
    Ok(PathBuf::from(path))
}

/// The socket path of a gRPC `unix:` target (`unix:/abs`, `unix:///abs`, `unix:relative`),
/// or `None` when `raw` is not one.
pub(super) fn unix_target(raw: &str) -> Option<Result<PathBuf>> {
    let rest = raw.trim().strip_prefix("unix:")?;
    let path = match rest.strip_prefix("//") {
        // `unix://host/path` names no host in gRPC; only `unix:///path` is absolute.
        Some(after) if after.starts_with('/') => after,
        Some(_) => {
            return Some(Err(Error::invalid(format!(
                "endpoint {raw:?}: a unix endpoint is unix:///absolute/path or unix:relative/path"
            ))))
        }
        None => rest,
    };
    Some(check_unix_socket_path(path))
}

/// The `:authority` of calls to a `unix:` target, as gRPC's clients send it.
pub(super) const UNIX_TARGET_AUTHORITY: &str = "http://localhost";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_targets_as_grpc_spells_them() {
        assert_eq!(
            unix_target("unix:///run/otel.sock").unwrap().unwrap(),
            PathBuf::from("/run/otel.sock")
        );
        assert_eq!(
            unix_target("unix:/run/otel.sock").unwrap().unwrap(),
            PathBuf::from("/run/otel.sock")
        );
        assert_eq!(
            unix_target("unix:otel.sock").unwrap().unwrap(),
            PathBuf::from("otel.sock")
        );
        assert!(unix_target("unix://host/otel.sock").unwrap().is_err());
        assert!(unix_target("unix:").unwrap().is_err());
        assert!(unix_target("http://x").is_none());
        let long = format!("unix:///{}", "s".repeat(120));
        assert!(unix_target(&long).unwrap().is_err());
    }
}
