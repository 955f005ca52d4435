//! The disk spool end to end: restart, the directory lock across threads and processes,
//! SIGKILL at random moments, damaged files, a Collector outage longer than the retry
//! budget, a full disk and refusals for good.
//!
//! Some tests re-execute this test binary as a child process (`ROLE` names what the
//! child does); the child never returns to the test harness.

mod support;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlpmetric::{
    Config, Durability, ErrorKind, Exporter, FullPolicy, LogLevel, Protocol, RetryPolicy,
};
use prost::Message;
use support::{dead_endpoint, marked, Collector, Receiver, Reply};

/// The environment variable that makes this binary a child: its value is the role.
const ROLE: &str = "OTLPMETRIC_SPOOL_TEST_ROLE";
const CHILD_DIR: &str = "OTLPMETRIC_SPOOL_TEST_DIR";

type Logs = Arc<Mutex<Vec<(LogLevel, String)>>>;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "otlpmetric-spool-test-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn quick_retry(max_elapsed: Duration) -> RetryPolicy {
    RetryPolicy {
        enabled: true,
        initial_interval: Duration::from_millis(50),
        max_interval: Duration::from_millis(200),
        max_elapsed,
    }
}

/// A config isolated from the environment, spooling to `dir` with `durability`.
fn spool_config(endpoint: &str, dir: &Path, durability: Durability) -> Config {
    let mut config = Config::from_lookup(&|_| None);
    config.set_endpoint(endpoint).unwrap();
    config.set_protocol(Protocol::HttpProtobuf);
    config
        .set_retry(quick_retry(Duration::from_millis(500)))
        .unwrap();
    config.set_timeout(Duration::from_secs(2));
    config
        .set_spool(Some(dir.to_str().unwrap()), 64 << 20)
        .unwrap();
    config.set_spool_durability(durability).unwrap();
    config
}

fn capture_logs(config: &mut Config) -> Logs {
    let logs: Logs = Arc::default();
    let sink = logs.clone();
    config.set_log_callback(Some(Arc::new(move |level, message: &str| {
        sink.lock().unwrap().push((level, message.to_string()))
    })));
    logs
}

fn record(marker: &str) -> Vec<u8> {
    marked(marker).encode_to_vec()
}

/// The service.name of every resource in `request`.
fn markers(request: &ExportMetricsServiceRequest) -> Vec<String> {
    request
        .resource_metrics
        .iter()
        .filter_map(|rm| {
            rm.resource.as_ref()?.attributes.iter().find_map(|kv| {
                match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) if kv.key == "service.name" => Some(s.clone()),
                    _ => None,
                }
            })
        })
        .collect()
}

/// How many times each marker arrived at `receiver`.
fn received(receiver: &Receiver) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for recorded in receiver.requests() {
        for marker in markers(&recorded.request()) {
            *counts.entry(marker).or_insert(0) += 1;
        }
    }
    counts
}

/// Waits until every one of `wanted` arrived at `receiver`.
fn wait_for_markers(receiver: &Receiver, wanted: &[String], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let got = received(receiver);
        let missing: Vec<_> = wanted.iter().filter(|m| !got.contains_key(*m)).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} records never arrived, e.g. {:?}",
            missing.len(),
            wanted.len(),
            &missing[..missing.len().min(5)]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts this binary as a child running `test` with `role`.
fn spawn_child(test: &str, role: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// In a child: what `role` says; never returns.
fn run_child_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let code = match role.as_str() {
        // Holds the spool until killed.
        "hold" => {
            let exporter =
                Exporter::new(&spool_config(&dead_endpoint(), &dir, Durability::Never)).unwrap();
            // After libtest's own output, on a line of its own.
            println!("\nCHILD ready");
            std::io::stdout().flush().unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let _ = &exporter;
            }
        }
        // Enqueues until killed, noting each record whose enqueue returned OK.
        "enqueue" => {
            let round = std::env::var("OTLPMETRIC_SPOOL_TEST_ROUND").unwrap();
            let endpoint = std::env::var("OTLPMETRIC_SPOOL_TEST_ENDPOINT").unwrap();
            let exporter =
                Exporter::new(&spool_config(&endpoint, &dir, Durability::EveryRecord)).unwrap();
            let mut ok_log = fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(dir.with_extension("ok"))
                .unwrap();
            for i in 0.. {
                let marker = format!("kill-{round}-{i}");
                exporter.enqueue(&record(&marker)).unwrap();
                // One write of a whole line: the kernel keeps it however the process dies.
                ok_log.write_all(format!("{marker}\n").as_bytes()).unwrap();
            }
            0
        }
        // Enqueues with a file size limit in force: the kernel refuses the write.
        "fsize" => {
            let exporter = Exporter::new(&spool_config(
                &dead_endpoint(),
                &dir,
                Durability::EveryRecord,
            ))
            .unwrap();
            exporter.enqueue(&record("before-the-limit")).unwrap();
            // SAFETY: plain libc calls; the default action of SIGXFSZ would kill us.
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: 4096,
                    rlim_max: libc::RLIM_INFINITY,
                };
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
            }
            let mut refused = 0;
            for i in 0..20 {
                match exporter.enqueue(&record(&format!("past-the-limit-{i}"))) {
                    Ok(()) => {}
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::QueueFull, "{e}");
                        assert!(e.message().contains("could not be written"), "{e}");
                        refused += 1;
                    }
                }
            }
            println!("\nCHILD refused {refused}");
            0
        }
        other => panic!("unknown role {other}"),
    };
    std::io::stdout().flush().unwrap();
    std::process::exit(code);
}

#[test]
fn what_one_exporter_spooled_the_next_one_delivers_and_the_lock_is_released_at_shutdown() {
    let dir = scratch("restart");
    let mut config = spool_config(&dead_endpoint(), &dir, Durability::default());
    let first = Exporter::new(&config).unwrap();
    let second = Exporter::new(&config).err().unwrap();
    assert_eq!(second.kind(), ErrorKind::InvalidArgument);
    assert!(second.message().contains("in use"), "{second}");
    let wanted: Vec<String> = (0..20).map(|i| format!("restart-{i}")).collect();
    for marker in &wanted {
        first.enqueue(&record(marker)).unwrap();
    }
    assert!(first.stats().queue_bytes > 0);
    assert!(
        first.shutdown(Some(Duration::from_millis(300))).is_err(),
        "nothing was delivered"
    );
    // Shut down: the lock is released though `first` still exists.
    let receiver = Receiver::http();
    config.set_endpoint(&receiver.endpoint()).unwrap();
    let logs = capture_logs(&mut config);
    let next = Exporter::new(&config).unwrap();
    wait_for_markers(&receiver, &wanted, Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(5);
    while next.stats().queue_bytes != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = next.spool_stats().unwrap();
    assert_eq!(stats.delivered, 20, "{stats:?}");
    assert_eq!(stats.pending_bytes, 0, "{stats:?}");
    assert!(
        logs.lock()
            .unwrap()
            .iter()
            .any(|(_, m)| m.contains("left by an earlier exporter")),
        "{:?}",
        logs.lock().unwrap()
    );
    assert!(
        received(&receiver).values().all(|n| *n == 1),
        "no duplicates"
    );
    drop(first);
    drop(next);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_directory_locked_by_another_process_is_refused_until_that_process_dies() {
    run_child_role();
    let dir = scratch("lock-process");
    let mut child = spawn_child(
        "a_directory_locked_by_another_process_is_refused_until_that_process_dies",
        "hold",
        &dir,
    );
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        assert!(n > 0, "the child ended before holding the spool");
        if line.trim() == "CHILD ready" {
            break;
        }
    }
    let config = spool_config(&dead_endpoint(), &dir, Durability::Never);
    let err = Exporter::new(&config).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("in use"), "{err}");
    child.kill().unwrap();
    child.wait().unwrap();
    Exporter::new(&config).expect("the kernel released the dead child's lock");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn records_whose_enqueue_returned_ok_survive_sigkill_at_random_moments() {
    run_child_role();
    let dir = scratch("sigkill");
    let ok_log = dir.with_extension("ok");
    // Even rounds enqueue with the receiver down; odd ones with it up and slow to answer,
    // so that a record is in flight when the kill comes.
    let receiver = Receiver::http();
    receiver.set_default_reply(Reply::delayed(Duration::from_millis(20), Reply::Ok));
    let rounds = 6;
    let rounds_up = rounds / 2;
    for round in 0..rounds {
        let endpoint = if round % 2 == 1 {
            receiver.endpoint()
        } else {
            dead_endpoint()
        };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "records_whose_enqueue_returned_ok_survive_sigkill_at_random_moments",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ROLE, "enqueue")
            .env(CHILD_DIR, &dir)
            .env("OTLPMETRIC_SPOOL_TEST_ROUND", round.to_string())
            .env("OTLPMETRIC_SPOOL_TEST_ENDPOINT", endpoint)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + fastrand::u64(0..350)));
        // SIGKILL: no destructor, no flush runs in the child.
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let text = fs::read_to_string(&ok_log).unwrap();
    let wanted: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("kill-"))
        .map(str::to_string)
        .collect();
    assert!(
        wanted.len() >= rounds,
        "the children enqueued too little: {}",
        wanted.len()
    );

    let delivered_by_children = receiver.request_count();
    receiver.set_default_reply(Reply::Ok);
    let exporter = Exporter::new(&spool_config(
        &receiver.endpoint(),
        &dir,
        Durability::EveryRecord,
    ))
    .unwrap();
    wait_for_markers(&receiver, &wanted, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(10);
    while exporter.stats().queue_bytes != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = received(&receiver);
    for recorded in receiver.requests() {
        let request = recorded.request();
        let marker = &markers(&request)[0];
        let expected = ExportMetricsServiceRequest {
            resource_metrics: vec![marked(marker)],
        };
        assert!(
            recorded.body == expected.encode_to_vec(),
            "{marker} arrived changed"
        );
    }
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    let stats = exporter.spool_stats().unwrap();
    eprintln!(
        "{} records enqueued OK over {rounds} kills; {} arrived ({delivered_by_children} \
         while the children ran, {duplicates} duplicates); spool {stats:?}",
        wanted.len(),
        got.len()
    );
    assert!(delivered_by_children > 0, "no round delivered anything");
    // Delivery is one record at a time: at most the one in flight at each kill with the
    // receiver up is sent twice.
    assert!(duplicates <= rounds_up, "{duplicates} duplicates");
    // At most one torn record per kill (the one being written).
    assert!(stats.skipped <= rounds as u64, "{stats:?}");
    assert_eq!(stats.pending_bytes, 0, "{stats:?}");
    drop(exporter);
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_file(&ok_log).unwrap();
}

/// Flips one byte in the middle of the `n`th record of the only segment in `dir`.
fn damage_record(dir: &Path, n: usize) {
    let segment = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    let mut at = 0;
    for _ in 0..n {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 12 + len;
    }
    bytes[at + 20] ^= 0x40;
    fs::write(&segment, bytes).unwrap();
}

#[test]
fn a_damaged_record_is_skipped_counted_and_logged_and_the_rest_delivered() {
    let dir = scratch("damaged");
    let config = spool_config(&dead_endpoint(), &dir, Durability::Never);
    let exporter = Exporter::new(&config).unwrap();
    let all: Vec<String> = (0..5).map(|i| format!("damaged-{i}")).collect();
    for marker in &all {
        exporter.enqueue(&record(marker)).unwrap();
    }
    exporter.shutdown(Some(Duration::from_millis(100))).ok();
    drop(exporter);
    damage_record(&dir, 2);
    let receiver = Receiver::http();
    let mut config = spool_config(&receiver.endpoint(), &dir, Durability::Never);
    let logs = capture_logs(&mut config);
    let exporter = Exporter::new(&config).unwrap();
    let intact: Vec<String> = all.iter().filter(|m| *m != "damaged-2").cloned().collect();
    wait_for_markers(&receiver, &intact, Duration::from_secs(20));
    assert!(!received(&receiver).contains_key("damaged-2"));
    assert_eq!(exporter.spool_stats().unwrap().skipped, 1);
    assert!(logs
        .lock()
        .unwrap()
        .iter()
        .any(|(level, m)| *level == LogLevel::Warn && m.contains("skipped 1 damaged")));
    drop(exporter);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn data_the_receiver_refuses_for_good_is_counted_and_dropped_and_the_rest_delivered() {
    let dir = scratch("refused");
    let receiver = Receiver::http();
    receiver.push_reply(Reply::http_status(400));
    let mut config = spool_config(&receiver.endpoint(), &dir, Durability::Never);
    let logs = capture_logs(&mut config);
    let exporter = Exporter::new(&config).unwrap();
    exporter.enqueue(&record("refused-0")).unwrap();
    exporter.enqueue(&record("refused-1")).unwrap();
    exporter.force_flush(Some(Duration::from_secs(10))).unwrap();
    let got = received(&receiver);
    assert_eq!(got.get("refused-1"), Some(&1));
    let spool = exporter.spool_stats().unwrap();
    assert_eq!((spool.rejected, spool.delivered), (1, 1), "{spool:?}");
    assert_eq!(exporter.stats().queue_dropped, 1);
    assert!(logs
        .lock()
        .unwrap()
        .iter()
        .any(|(level, m)| *level == LogLevel::Error && m.contains("refused for good")));
    drop(exporter);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_receiver_away_longer_than_the_retry_budget_loses_nothing() {
    let dir = scratch("away");
    let port = support::free_port();
    let mut config = spool_config(
        &format!("http://127.0.0.1:{port}/v1/metrics"),
        &dir,
        Durability::default(),
    );
    let logs = capture_logs(&mut config);
    let exporter = Exporter::new(&config).unwrap();
    let wanted: Vec<String> = (0..5).map(|i| format!("away-{i}")).collect();
    for marker in &wanted {
        exporter.enqueue(&record(marker)).unwrap();
    }
    // Twice the retry budget (500 ms) with nobody listening.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(exporter.stats().queue_bytes > 0);
    assert!(logs
        .lock()
        .unwrap()
        .iter()
        .any(|(_, m)| m.contains("stays in the spool")));
    let receiver = Receiver::start_on(support::Protocol::Http, port);
    exporter.force_flush(Some(Duration::from_secs(20))).unwrap();
    let got = received(&receiver);
    for marker in &wanted {
        assert_eq!(got.get(marker), Some(&1), "{marker}");
    }
    assert_eq!(exporter.stats().queue_bytes, 0);
    drop(exporter);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_outage_of_the_real_collector_longer_than_the_retry_budget_loses_nothing() {
    let dir = scratch("collector");
    let collector = Collector::start(false, &[]);
    let http_port = collector.var("OTELCOL_HTTP_PORT").to_string();
    let grpc_port = collector.var("OTELCOL_GRPC_PORT").to_string();
    let mut config = spool_config(
        &collector.endpoint(Protocol::HttpProtobuf),
        &dir,
        Durability::default(),
    );
    config
        .set_retry(quick_retry(Duration::from_secs(1)))
        .unwrap();
    let exporter = Exporter::new(&config).unwrap();
    exporter.enqueue(&record("outage-before")).unwrap();
    exporter.force_flush(Some(Duration::from_secs(10))).unwrap();
    collector.received("outage-before");
    drop(collector);
    let during: Vec<String> = (0..6).map(|i| format!("outage-during-{i}")).collect();
    for marker in &during {
        exporter.enqueue(&record(marker)).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    // The outage has lasted over twice the retry budget.
    assert!(exporter.stats().queue_bytes > 0);
    let collector = Collector::start(
        false,
        &[
            ("OTELCOL_HTTP_PORT", &http_port),
            ("OTELCOL_GRPC_PORT", &grpc_port),
        ],
    );
    exporter.force_flush(Some(Duration::from_secs(30))).unwrap();
    for marker in &during {
        collector.received(marker);
    }
    assert_eq!(exporter.stats().queue_bytes, 0);
    drop(exporter);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_write_the_kernel_refuses_is_an_error_at_enqueue_not_a_crash() {
    run_child_role();
    let dir = scratch("fsize");
    let out = spawn_child(
        "a_write_the_kernel_refuses_is_an_error_at_enqueue_not_a_crash",
        "fsize",
        &dir,
    )
    .wait_with_output()
    .unwrap();
    assert!(out.status.success(), "the child crashed: {:?}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let refused: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CHILD refused "))
        .unwrap_or_else(|| panic!("no verdict in {stdout}"))
        .parse()
        .unwrap();
    assert!(refused > 0, "{stdout}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unusable_directory_is_refused_at_exporter_new() {
    for dir in ["/proc/otlpmetric-spool", "/dev/null/spool"] {
        let err = Exporter::new(&spool_config(
            &dead_endpoint(),
            Path::new(dir),
            Durability::Never,
        ))
        .err()
        .unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.message().contains(dir), "{err}");
    }
}

#[test]
fn a_full_spool_drops_the_oldest_or_refuses_new_as_configured() {
    let dir = scratch("policy");
    for policy in [FullPolicy::DropOldest, FullPolicy::RefuseNew] {
        let mut config = spool_config(&dead_endpoint(), &dir, Durability::Never);
        config
            .set_spool(Some(dir.to_str().unwrap()), 16 * 1024)
            .unwrap();
        config.set_spool_full_policy(policy);
        let exporter = Exporter::new(&config).unwrap();
        let size = record("full-0").len();
        let n = 3 * 16 * 1024 / size;
        let refused = (0..n)
            .filter(|i| exporter.enqueue(&record(&format!("full-{i}"))).is_err())
            .count();
        let stats = exporter.stats();
        assert!(stats.queue_bytes <= 16 * 1024, "{stats:?}");
        assert!(stats.queue_dropped > 0, "{stats:?}");
        match policy {
            FullPolicy::DropOldest => assert_eq!(refused, 0),
            FullPolicy::RefuseNew => assert_eq!(refused as u64, stats.queue_dropped),
        }
        drop(exporter);
        fs::remove_dir_all(&dir).unwrap();
    }
}

/// A real full disk: a 256 KiB tmpfs.
#[test]
#[ignore = "mounts a tmpfs: needs root (CAP_SYS_ADMIN); run with --ignored"]
fn a_full_disk_is_an_error_at_enqueue_not_a_crash() {
    let mount = scratch("tmpfs");
    fs::create_dir_all(&mount).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&mount)
        .status()
        .unwrap();
    assert!(status.success(), "mount failed");
    let dir = mount.join("spool");
    let exporter = Exporter::new(&spool_config(
        &dead_endpoint(),
        &dir,
        Durability::EveryRecord,
    ))
    .unwrap();
    let mut results = Vec::new();
    for i in 0..200 {
        results.push(exporter.enqueue(&record(&format!("disk-{i}"))));
    }
    drop(exporter);
    let _ = Command::new("umount").arg(&mount).status();
    let _ = fs::remove_dir_all(&mount);
    let first_error = results
        .iter()
        .position(|r| r.is_err())
        .expect("the disk filled up");
    let error = results[first_error].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::QueueFull, "{error}");
    assert!(error.message().contains("No space left"), "{error}");
}
