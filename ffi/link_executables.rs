//! The one build script of every crate whose executables (binaries, tests, benches) link twinloom-usd:
//! it gives them an rpath to OpenUSD's libraries and keeps libpython linked (see ffi/build.rs, which
//! exports the arguments as `DEP_TWINLOOM_USD_LINK_ARGS`), so they run from any directory without
//! LD_LIBRARY_PATH. Crates point at it with `build = "<path to>/ffi/link_executables.rs"`.
fn main() {
    if let Ok(args) = std::env::var("DEP_TWINLOOM_USD_LINK_ARGS") {
        for arg in args.split(' ').filter(|a| !a.is_empty()) {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
