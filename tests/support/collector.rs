//! The real OpenTelemetry Collector (otelcol-mini, built from the official modules by
//! tools/otelcol; `scripts/otelcol.sh` builds and caches it), started by
//! `tools/otelcol/run.sh`, and what it wrote out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use otlpmetric::Protocol;

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Collector binary: `OTELCOL_BIN`, else the one `scripts/otelcol.sh` caches.
pub fn collector_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("OTELCOL_BIN") {
        return bin.into();
    }
    let home = std::env::var_os("OTELCOL_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/otelcol-mini")
        });
    let bin = home.join("otelcol-mini");
    assert!(
        bin.exists(),
        "no Collector at {}: run scripts/otelcol.sh (scripts/test.sh does it)",
        bin.display()
    );
    bin
}

/// A Collector started by tools/otelcol/run.sh on free loopback ports or socket files;
/// stopped when dropped.
pub struct Collector {
    vars: HashMap<String, String>,
}

/// Which listeners `run.sh` gives the Collector.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Listeners {
    /// Plain TCP on loopback.
    Tcp,
    /// TLS on loopback.
    Tls,
    /// Unix domain sockets (`OTELCOL_GRPC_SOCKET`, `OTELCOL_HTTP_SOCKET`).
    Unix,
}

impl Collector {
    /// Starts a Collector with plain (`tls` false) or TLS listeners on loopback.
    pub fn start(tls: bool, extra_env: &[(&str, &str)]) -> Collector {
        Self::start_with(if tls { Listeners::Tls } else { Listeners::Tcp }, extra_env)
    }

    /// Starts a Collector with these listeners.
    pub fn start_with(listeners: Listeners, extra_env: &[(&str, &str)]) -> Collector {
        let mut command = Command::new(root().join("tools/otelcol/run.sh"));
        match listeners {
            Listeners::Tcp => {}
            Listeners::Tls => {
                command.arg("--tls");
            }
            Listeners::Unix => {
                command.arg("--unix");
            }
        }
        command
            .env("OTELCOL_BIN", collector_binary())
            .env("OTELCOL_GRPC_PORT", "auto")
            .env("OTELCOL_HTTP_PORT", "auto");
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let out = command.output().expect("run.sh starts");
        assert!(
            out.status.success(),
            "the Collector did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Collector { vars }
    }

    pub fn var(&self, name: &str) -> &str {
        &self.vars[name]
    }

    pub fn endpoint(&self, protocol: Protocol) -> String {
        match protocol {
            Protocol::Grpc => self.var("OTELCOL_GRPC_ENDPOINT").to_string(),
            _ => format!("{}/v1/metrics", self.var("OTELCOL_HTTP_ENDPOINT")),
        }
    }

    /// Every complete line the Collector wrote.
    pub fn lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.var("OTELCOL_OUT")).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete.lines().map(str::to_string).collect()
    }

    /// The request the Collector received carrying `marker` as service.name.
    pub fn received(&self, marker: &str) -> ExportMetricsServiceRequest {
        self.received_n(marker, 1).remove(0)
    }

    /// The first `n` requests the Collector wrote with `marker`, in order; waits up to
    /// 10 s for them.
    pub fn received_n(&self, marker: &str, n: usize) -> Vec<ExportMetricsServiceRequest> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines: Vec<String> = self
                .lines()
                .into_iter()
                .filter(|l| l.contains(marker))
                .take(n)
                .collect();
            if lines.len() == n {
                return lines
                    .iter()
                    .map(|line| {
                        otlpmetric::internals::json::parse_request(line.as_bytes()).unwrap()
                    })
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "the Collector wrote {} of {n} requests with {marker}",
                lines.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = Command::new(root().join("tools/otelcol/run.sh"))
            .args(["stop", self.var("OTELCOL_PIDFILE")])
            .status();
    }
}

/// Sample data whose service.name is `marker`, so that its line can be found.
pub fn marked(marker: &str) -> ResourceMetrics {
    let mut rm = super::sample_resource_metrics(40);
    let resource = rm.resource.as_mut().unwrap();
    resource.attributes.retain(|kv| kv.key != "service.name");
    resource
        .attributes
        .insert(0, super::kv_str("service.name", marker));
    rm
}
