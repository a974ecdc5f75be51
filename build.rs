//! Links the `redline` binary with compressed debug sections on Linux: the
//! installed binary keeps its line tables (a panic's backtrace still names
//! file and line; std's symbolizer reads zlib sections) at a fraction of the
//! size. Nothing else is built here.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let gnu_or_musl = matches!(
        std::env::var("CARGO_CFG_TARGET_ENV").as_deref(),
        Ok("gnu") | Ok("musl")
    );
    // Only optimised builds: compressing a debug build's full debug info at
    // every link would slow the edit-build-test loop for nothing.
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    if linux && gnu_or_musl && release {
        println!("cargo:rustc-link-arg-bins=-Wl,--compress-debug-sections=zlib");
    }
}
