//! A real HTTP proxy for tests: tinyproxy (Debian's package; `scripts/bootstrap.sh`
//! installs it), on a free port of 127.0.0.1 with a config file in a temp dir of its own.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A tinyproxy process, stopped when dropped.
pub struct TinyProxy {
    child: Child,
    dir: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl TinyProxy {
    /// Starts tinyproxy for clients on 127.0.0.1; `extra` is added to its config file
    /// (`BasicAuth user password`, `ConnectPort 443`, `Allow` lines...). Without an
    /// `Allow` line in `extra`, 127.0.0.1 is allowed.
    pub fn start(extra: &str) -> TinyProxy {
        let port = free_port();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "otlpmetric-tinyproxy-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let allow = if extra.contains("Allow ") {
            ""
        } else {
            "Allow 127.0.0.1\n"
        };
        let config = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Connect\n\
             LogFile \"{}\"\n{allow}{extra}\n",
            dir.join("tinyproxy.log").display()
        );
        let config_file = dir.join("tinyproxy.conf");
        std::fs::write(&config_file, config).unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy runs (scripts/bootstrap.sh installs it)");
        let proxy = TinyProxy { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tinyproxy did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        proxy
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests tinyproxy logged (`CONNECT host:port HTTP/1.1`, `GET http://...`).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("tinyproxy.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once("): ").map(|(_, rest)| rest))
            .filter(|rest| rest.contains(" HTTP/1."))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TinyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
