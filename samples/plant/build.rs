//! Gives the `twinloom` binary and this crate's tests an rpath to OpenUSD's libraries (found by
//! twinloom-usd's build script), so they run from any directory without LD_LIBRARY_PATH.
fn main() {
    if let Ok(rpath) = std::env::var("DEP_TWINLOOM_USD_RPATH") {
        println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags,-rpath,{rpath}");
    }
}
