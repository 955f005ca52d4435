//! Gives the shared library a SONAME, so that programs linked against it record
//! `libotlpmetric.so` rather than the path it was linked from (CMake's imported targets
//! would otherwise bake in an absolute path).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libotlpmetric.so");
    }
}
