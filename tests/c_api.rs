//! The C contract tested as C: tests/c/*.c compiled with strict warnings against the
//! generated header and the built library, run against our receivers on 127.0.0.1, and
//! what arrived compared byte for byte with what the C program says it sent. The header
//! is also compiled as C++17, included twice, and linked statically.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::{Receiver, Reply};

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
