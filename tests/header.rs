//! The checked-in header must be exactly what the pinned cbindgen generates from the
//! code now. `OTLPMETRIC_UPDATE_HEADER=1 cargo test --test header` rewrites it.

use std::path::Path;

#[test]
fn header_is_what_cbindgen_generates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    // The Python package's build copies this one into the package (bindings/python/setup.py).
    let path = root.join("include/otlpmetric.h");
    if std::env::var_os("OTLPMETRIC_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/otlpmetric.h is not what cbindgen generates now; run \
         OTLPMETRIC_UPDATE_HEADER=1 cargo test --test header and commit the result"
    );
}

#[test]
fn header_preprocessor_lines_are_only_guard_includes_defines_and_cplusplus() {
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/otlpmetric.h"))
            .unwrap();
    for line in header.lines().map(str::trim).filter(|l| l.starts_with('#')) {
        let ok = line.starts_with("#include <")
            || line == "#ifndef OTLPMETRIC_H"
            || line == "#define OTLPMETRIC_H"
            || line == "#endif  /* OTLPMETRIC_H */"
            || line.starts_with("#endif")
            || line == "#ifdef __cplusplus"
            || (line.starts_with("#define OTLPMETRIC_")
                && line.split_whitespace().count() == 3
                && line
                    .split_whitespace()
                    .nth(2)
                    .unwrap()
                    .parse::<i64>()
                    .is_ok());
        assert!(ok, "unexpected preprocessor line in the header: {line}");
    }
}

#[test]
fn header_version_macros_match_cargo() {
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/otlpmetric.h"))
            .unwrap();
    for (name, value) in [
        ("MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        let line = format!("#define OTLPMETRIC_VERSION_{name} {value}");
        assert!(header.contains(&line), "missing {line:?}");
    }
    let version = unsafe { std::ffi::CStr::from_ptr(otlpmetric::ffi::otlpmetric_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}
