//! Gives the shared library a versioned SONAME, `libotlpmetric.so.<major>`, so that
//! programs linked against it record that name rather than the path it was linked from
//! and keep working across compatible releases (the major number is the ABI's).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libotlpmetric.so.{major}");
    }
}
