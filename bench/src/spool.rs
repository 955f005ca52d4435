//! `--spool`: the cost of `Exporter::enqueue` to a disk spool, for each durability choice,
//! beside the in-memory queue. One thread enqueues back to back while the exporter
//! delivers to the benchmark's receiver over HTTP in the background; each call is timed.
//! The spool lives under `bench/target/spool-bench` (on the disk the benchmark runs
//! from, not a tmpfs).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use otlpmetric::{Config, Durability, Exporter, Protocol};

use crate::payload;
use crate::receiver::{Kind, Receiver};

/// How `enqueue` keeps the data.
#[derive(Clone, Copy)]
enum Mode {
    Memory,
    Spool(Durability),
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Memory => "in-memory queue",
            Mode::Spool(Durability::Never) => "spool, fsync never",
            Mode::Spool(Durability::Interval(_)) => "spool, fsync every 1 s (default)",
            Mode::Spool(Durability::EveryRecord) => "spool, fsync every record",
        }
    }
}

const MODES: [Mode; 4] = [
    Mode::Memory,
    Mode::Spool(Durability::Never),
    Mode::Spool(Durability::Interval(Duration::from_secs(1))),
    Mode::Spool(Durability::EveryRecord),
];

/// Room enough that nothing is refused or dropped during a run.
const BOUND: usize = 1 << 30;

pub fn run(quick: bool) {
    let receiver = Receiver::spawn(Kind::Discarding);
    let url = format!("http://127.0.0.1:{}/v1/metrics", receiver.http_port);
    let duration = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3)
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/spool-bench");
    println!(
        "otlpmetric-bench --spool{}: one thread enqueueing for {duration:?} per row; spool in {}",
        if quick { " --quick" } else { "" },
        dir.display()
    );
    println!(
        "{:<5} {:<34} {:>10} {:>10} {:>10} {:>10}",
        "data", "enqueue to", "enqueues/s", "MB/s", "p50", "p99"
    );
    for (name, specs) in [("small", payload::small()), ("large", payload::large())] {
        let data = payload::payload(name, &specs).resource_metrics;
        for mode in MODES {
            let _ = std::fs::remove_dir_all(&dir);
            let mut config = Config::from_lookup(&|_| None);
            config.set_endpoint(&url).expect("endpoint");
            config.set_protocol(Protocol::HttpProtobuf);
            config.set_queue(BOUND).expect("queue");
            if let Mode::Spool(durability) = mode {
                config
                    .set_spool(Some(dir.to_str().expect("UTF-8 path")), BOUND)
                    .expect("spool");
                config.set_spool_durability(durability).expect("durability");
            }
            let exporter = Exporter::new(&config).expect("exporter");
            let mut latencies = Vec::new();
            let start = Instant::now();
            while start.elapsed() < duration {
                let t = Instant::now();
                exporter.enqueue(&data).expect("enqueue");
                latencies.push(t.elapsed());
            }
            let elapsed = start.elapsed().as_secs_f64();
            let _ = exporter.shutdown(Some(Duration::from_secs(2)));
            latencies.sort();
            let n = latencies.len();
            let at = |q: f64| latencies[((n as f64 * q) as usize).min(n - 1)];
            println!(
                "{name:<5} {:<34} {:>10.0} {:>10.1} {:>10} {:>10}",
                mode.label(),
                n as f64 / elapsed,
                (n * data.len()) as f64 / elapsed / 1e6,
                format!("{:.1?}", at(0.5)),
                format!("{:.1?}", at(0.99)),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
