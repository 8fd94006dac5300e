//! Links this crate's executables (the `twinloom` binary, tests, benches) the way twinloom-usd needs:
//! an rpath to OpenUSD's libraries and libpython kept linked (see ffi/build.rs), so they run from any
//! directory without LD_LIBRARY_PATH.
fn main() {
    if let Ok(args) = std::env::var("DEP_TWINLOOM_USD_LINK_ARGS") {
        for arg in args.split(' ').filter(|a| !a.is_empty()) {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
