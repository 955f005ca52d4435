//! The C contract tested as C: tests/c/*.c compiled with strict warnings against the
//! generated header and the built library, run against our receivers on 127.0.0.1, and
//! what arrived compared byte for byte with what the C program says it sent. The header
//! is also compiled as C++17, included twice, and linked statically.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, Metric, ResourceMetrics,
};
use prost::Message;
use support::{Collector, Receiver, Reply};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo put libotlpmetric.so and .a for this test run: next to the test binary
/// (target/<profile>/deps), or in target/<profile> after a `cargo build`.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let found = [deps, deps.parent().unwrap()]
        .into_iter()
        .find(|dir| dir.join("libotlpmetric.so").exists() && dir.join("libotlpmetric.a").exists())
        .map(Path::to_path_buf);
    let dir = found.unwrap_or_else(|| panic!("no libotlpmetric.so and .a near {}", exe.display()));
    dev_soname_link(&dir);
    dir
}

/// The link the library's SONAME names (`libotlpmetric.so.<major>` -> `libotlpmetric.so`),
/// which programs linked here need at run time, as `scripts/dev-library.sh` makes it.
fn dev_soname_link(dir: &Path) {
    let soname = format!("libotlpmetric.so.{}", env!("CARGO_PKG_VERSION_MAJOR"));
    let link = dir.join(&soname);
    if std::fs::read_link(&link).is_ok_and(|target| target == Path::new("libotlpmetric.so")) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    // Parallel tests may race to make it; either one's link is the same.
    if let Err(e) = std::os::unix::fs::symlink("libotlpmetric.so", &link) {
        assert!(link.exists(), "cannot link {}: {e}", link.display());
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("otlpmetric-c-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{command:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Compiles C (or C++ when `cpp`) sources into `out`, linked with the shared library.
fn compile(sources: &[&str], out: &Path, cpp: bool) {
    let lib = lib_dir();
    let mut cc = if cpp {
        let mut c = Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".into()));
        c.arg("-std=c++17");
        c
    } else {
        let mut c = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
        c.arg("-std=c99");
        c
    };
    cc.args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-O1"])
        .arg("-I")
        .arg(root().join("include"))
        .args(sources.iter().map(|s| root().join(s)))
        .arg("-o")
        .arg(out)
        .arg(format!("-L{}", lib.display()))
        // RPATH, not RUNPATH: cargo runs tests with LD_LIBRARY_PATH holding target/<profile>,
        // whose libotlpmetric.so (from the last `cargo build`) would win over a RUNPATH and
        // may be older than the library this run built.
        .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", lib.display()))
        .args(["-lotlpmetric", "-pthread"]);
    run(&mut cc);
    assert_loads_the_library_of_this_run(out);
}

/// `program`, started as the tests start it, loads the libotlpmetric.so of [`lib_dir`].
fn assert_loads_the_library_of_this_run(program: &Path) {
    let out = run(Command::new("ldd").arg(program));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("libotlpmetric.so"))
        .unwrap_or_else(|| {
            panic!(
                "{} does not load libotlpmetric.so:\n{text}",
                program.display()
            )
        });
    // Through the link its SONAME names, which points at this run's library.
    let want = lib_dir().join(format!(
        "libotlpmetric.so.{}",
        env!("CARGO_PKG_VERSION_MAJOR")
    ));
    assert!(
        line.contains(&format!("=> {} ", want.display())),
        "{} loads {line:?}, not {}",
        program.display(),
        want.display()
    );
}

/// The receivers and endpoints test_api.c expects, and a way to check what arrived.
struct Harness {
    grpc: Receiver,
    http: Receiver,
    _hang: Receiver,
    _grpc_hang: Receiver,
    env: Vec<(String, String)>,
    out_dir: PathBuf,
}

impl Harness {
    fn new(name: &str) -> Harness {
        let (grpc, http, hang) = (Receiver::grpc(), Receiver::http(), Receiver::http());
        hang.set_default_reply(Reply::Hang);
        let grpc_hang = Receiver::grpc();
        grpc_hang.set_default_reply(Reply::Hang);
        let out_dir = scratch(name);
        let env = vec![
            ("OTLPM_TEST_GRPC_ENDPOINT".into(), grpc.endpoint()),
            ("OTLPM_TEST_HTTP_ENDPOINT".into(), http.endpoint()),
            ("OTLPM_TEST_HANG_ENDPOINT".into(), hang.endpoint()),
            ("OTLPM_TEST_GRPC_HANG_ENDPOINT".into(), grpc_hang.endpoint()),
            ("OTLPM_TEST_DEAD_ENDPOINT".into(), support::dead_endpoint()),
            ("OTLPM_TEST_OUT_DIR".into(), out_dir.display().to_string()),
            ("OTLPM_TEST_NO_SKIP".into(), "1".into()),
        ];
        Harness {
            grpc,
            http,
            _hang: hang,
            _grpc_hang: grpc_hang,
            env,
            out_dir,
        }
    }

    fn command(&self, program: &Path, wrapper: &[&str]) -> Command {
        let mut command = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.envs(self.env.iter().cloned());
        // The C tests must not see the developer's OTLP environment.
        for (key, _) in std::env::vars() {
            if key.starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        command
    }

    /// Every `sent-<n>.bin` arrived, byte for byte, at the receiver the manifest names.
    fn check_arrivals(&self) {
        let manifest = std::fs::read_to_string(self.out_dir.join("sent-manifest.txt")).unwrap();
        let mut expected: HashMap<&str, Vec<Vec<u8>>> = HashMap::new();
        for line in manifest.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let body = std::fs::read(self.out_dir.join(format!("sent-{}.bin", fields[0]))).unwrap();
            expected.entry(fields[1]).or_default().push(body);
        }
        for (name, receiver) in [("grpc", &self.grpc), ("http", &self.http)] {
            let mut want = expected.remove(name).unwrap_or_default();
            let got = receiver.wait_for_requests(want.len(), Duration::from_secs(10));
            let mut got: Vec<Vec<u8>> = got.into_iter().map(|r| r.body).collect();
            want.sort();
            got.sort();
            assert_eq!(got.len(), want.len(), "{name}: request count");
            assert!(
                got == want,
                "{name}: what arrived differs from what test_api.c sent"
            );
        }
    }
}

#[test]
fn c_api_tests_pass_and_what_they_sent_arrived_byte_for_byte() {
    let dir = scratch("build");
    let program = dir.join("test_api");
    compile(&["tests/c/test_api.c"], &program, false);
    let harness = Harness::new("run");
    let out = run(&mut harness.command(&program, &[]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    harness.check_arrivals();
}

#[test]
fn c_api_tests_are_clean_under_valgrind() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        panic!("valgrind is not installed (scripts/bootstrap.sh installs it)");
    }
    let dir = scratch("valgrind-build");
    let program = dir.join("test_api");
    compile(&["tests/c/test_api.c"], &program, false);
    let harness = Harness::new("valgrind");
    let mut command = harness.command(
        &program,
        &[
            "valgrind",
            "--quiet",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite",
        ],
    );
    // fork under valgrind is slow and tested above; everything else runs.
    command.arg("-fork");
    let out = run(&mut command);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[test]
fn a_process_that_never_shuts_down_exits_at_once() {
    let dir = scratch("exit");
    let program = dir.join("exit_without_shutdown");
    compile(&["tests/c/exit_without_shutdown.c"], &program, false);
    let hang = Receiver::http();
    hang.set_default_reply(Reply::Hang);
    let started = std::time::Instant::now();
    let mut child = Command::new(&program).arg(hang.endpoint()).spawn().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("the process did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("exited with {status} after {:?}", started.elapsed());
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn header_compiles_twice_in_c99_and_as_cpp17_and_links_statically() {
    let dir = scratch("header");
    compile(&["tests/c/header_twice.c"], &dir.join("twice"), false);
    run(&mut Command::new(dir.join("twice")));
    compile(&["tests/c/header_cpp.cpp"], &dir.join("cpp"), true);
    run(&mut Command::new(dir.join("cpp")));
    // Static: the archive plus what Rust's std needs from the system.
    let lib = lib_dir();
    run(
        Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg("-I")
            .arg(root().join("include"))
            .arg(root().join("tests/c/header_twice.c"))
            .arg(lib.join("libotlpmetric.a"))
            .args(["-lpthread", "-ldl", "-lm", "-o"])
            .arg(dir.join("static")),
    );
    let out = run(&mut Command::new(dir.join("static")));
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

/// The meter provider's C tests (tests/c/test_metrics.c), with the real Collector for the
/// end-to-end test; `wrapper` runs the program (valgrind), `args` select tests.
fn run_metrics_tests(name: &str, wrapper: &[&str], args: &[&str]) -> (PathBuf, Collector) {
    let dir = scratch(&format!("{name}-build"));
    let program = dir.join("test_metrics");
    compile(&["tests/c/test_metrics.c"], &program, false);
    let collector = Collector::start(false, &[]);
    let out_dir = scratch(name);
    let mut command = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&program);
            c
        }
        None => Command::new(&program),
    };
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .env("OTLPM_TEST_OUT_DIR", &out_dir)
        .env(
            "OTLPM_TEST_COLLECTOR_ENDPOINT",
            collector.endpoint(otlpmetric::Protocol::HttpProtobuf),
        )
        .env("OTLPM_TEST_COLLECTOR_MARKER", format!("c-metrics-{name}"))
        .env("OTLPM_TEST_FORK_MARKER", format!("fork-thread-{name}"));
    let out = run(&mut command);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert!(!stdout.contains("SKIP"), "{stdout}");
    (out_dir, collector)
}

fn decode(path: &Path) -> ResourceMetrics {
    ResourceMetrics::decode(std::fs::read(path).unwrap().as_slice()).unwrap()
}

fn resource_text(rm: &ResourceMetrics, key: &str) -> String {
    rm.resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {key} in the resource"))
}

fn metric<'a>(rm: &'a ResourceMetrics, name: &str) -> &'a Metric {
    rm.scope_metrics
        .iter()
        .flat_map(|sm| &sm.metrics)
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn int_points(metric: &Metric) -> Vec<(usize, i64, u64)> {
    let points = match metric.data.as_ref().unwrap() {
        Data::Sum(sum) => &sum.data_points,
        Data::Gauge(gauge) => &gauge.data_points,
        _ => panic!("{} is not a sum or gauge", metric.name),
    };
    let mut points: Vec<(usize, i64, u64)> = points
        .iter()
        .map(|p| match p.value {
            Some(number_data_point::Value::AsInt(v)) => {
                (p.attributes.len(), v, p.start_time_unix_nano)
            }
            _ => panic!("{}: not an int point", metric.name),
        })
        .collect();
    points.sort();
    points
}

#[test]
fn c_metrics_tests_pass_collect_decodes_fork_starts_over_and_the_collector_receives() {
    let (out_dir, collector) = run_metrics_tests("metrics", &[], &[]);

    let rm = decode(&out_dir.join("collected.bin"));
    assert_eq!(resource_text(&rm, "service.name"), "test-metrics");
    assert_eq!(resource_text(&rm, "telemetry.sdk.name"), "otlpmetric");
    let scope = rm.scope_metrics[0].scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("test_metrics", "1.2.3")
    );
    let requests = metric(&rm, "requests");
    assert_eq!(requests.unit, "{request}");
    assert_eq!(requests.description, "Requests served");
    let Some(Data::Sum(sum)) = &requests.data else {
        panic!("requests is not a sum")
    };
    assert!(sum.is_monotonic);
    // Two series: {} = 1 (the negative add was not recorded), and the three-attribute
    // set = 2 + 3 + 5 whatever the order its attributes came in.
    assert_eq!(
        int_points(requests)
            .iter()
            .map(|&(n, v, _)| (n, v))
            .collect::<Vec<_>>(),
        [(0, 1), (3, 10)]
    );
    let Some(Data::Histogram(latency)) = &metric(&rm, "latency").data else {
        panic!("latency is not a histogram")
    };
    let point = &latency.data_points[0];
    assert_eq!(point.count, 3, "NaN is not recorded");
    assert_eq!(point.sum, Some(321.5));
    assert_eq!((point.min, point.max), (Some(1.5), Some(300.0)));
    let queue = metric(&rm, "queue");
    assert_eq!(int_points(queue)[0].1, 3);
    let Some(Data::Gauge(temperature)) = &metric(&rm, "temperature").data else {
        panic!("temperature is not a gauge")
    };
    assert_eq!(
        temperature.data_points[0].value,
        Some(number_data_point::Value::AsDouble(21.25))
    );
    assert_eq!(int_points(metric(&rm, "memory"))[0].1, 4096);

    // Four threads recorded while the main one collected: nothing lost (test_metrics.c).
    let threads = decode(&out_dir.join("threads.bin"));
    assert_eq!(
        int_points(metric(&threads, "threaded"))
            .iter()
            .map(|&(n, v, _)| (n, v))
            .collect::<Vec<_>>(),
        [(0, 2 * 4 * 5000), (2, 4 * 5000)]
    );

    // The child counted only what it recorded after the fork, from a start of its own,
    // under an instance id of its own; the parent went on as if nothing happened.
    let parent = decode(&out_dir.join("fork-parent.bin"));
    let child = decode(&out_dir.join("fork-child.bin"));
    let (_, parent_value, parent_start) = int_points(metric(&parent, "forked"))[0];
    let (_, child_value, child_start) = int_points(metric(&child, "forked"))[0];
    assert_eq!(parent_value, 6);
    assert_eq!(child_value, 107);
    assert!(child_start > parent_start);
    assert_ne!(
        resource_text(&parent, "service.instance.id"),
        resource_text(&child, "service.instance.id")
    );
    assert_eq!(
        resource_text(&parent, "service.name"),
        resource_text(&child, "service.name")
    );

    // force_flush's export, then shutdown's (test_metrics.c).
    let received = collector.received_n("c-metrics-metrics", 2);
    let names_in = |request: &ExportMetricsServiceRequest| -> Vec<String> {
        request
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .map(|m| m.name.clone())
            .collect()
    };
    let names = names_in(&received[0]);
    assert!(
        names.contains(&"e2e.requests".into()) && names.contains(&"e2e.latency".into()),
        "{names:?}"
    );
    let names = names_in(&received[1]);
    // The first export's own metrics, sent with the second (test_metrics.c).
    for name in [
        "otel.sdk.exporter.metric_data_point.exported",
        "otel.sdk.exporter.metric_data_point.inflight",
        "otel.sdk.exporter.operation.duration",
    ] {
        assert!(names.contains(&name.into()), "{name} not in {names:?}");
    }
}

#[test]
fn c_metrics_tests_are_clean_under_valgrind_end_to_end() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        panic!("valgrind is not installed (scripts/bootstrap.sh installs it)");
    }
    let (_, collector) = run_metrics_tests(
        "metrics-valgrind",
        &[
            "valgrind",
            "--quiet",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite",
        ],
        // fork under valgrind is slow and tested above.
        &["-fork"],
    );
    collector.received("c-metrics-metrics-valgrind");
}
