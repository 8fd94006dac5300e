//! Shared by the `twinloom recommend` tests (recommend_*.rs, which include it with `#[path]`): running the
//! built binary and reading its JSON, the sample stages they recommend on, checking the plant's files stay
//! as they were, and a running `twinloom demo`.
// Each test binary uses its own part of this.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use twinloom_plant_layout::{write_layout_variant, Variant};
use twinloom_tests::{free_port, start_demo, ChildGuard};

/// Runs the built `twinloom` with `args` in `dir`.
pub fn twinloom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twinloom")).args(args).current_dir(dir).output().expect("start twinloom")
}

/// The JSON on stdout of a run that exited 0.
pub fn json_out(out: &Output) -> Value {
    json_out_code(out, 0)
}

/// The JSON on stdout of a run that exited `code`.
pub fn json_out_code(out: &Output, code: i32) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The number `v` holds.
pub fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A stage in `dir`: the sample layout `variant` in `layout.usda`, `live` (when given) in `live.usda`, and
/// `plant.usda` (defaultPrim Plant, metres, Z up) sublayering `live.usda` over `layout.usda`.
pub fn sample_stage(dir: &Path, variant: Variant, live: Option<&str>) {
    write_layout_variant(&dir.join("layout.usda"), variant).unwrap();
    let mut sublayers = Vec::new();
    if let Some(live) = live {
        std::fs::write(dir.join("live.usda"), live).unwrap();
        sublayers.push("@./live.usda@");
    }
    sublayers.push("@./layout.usda@");
    std::fs::write(
        dir.join("plant.usda"),
        format!(
            "#usda 1.0\n(\n    defaultPrim = \"Plant\"\n    metersPerUnit = 1\n    upAxis = \"Z\"\n    subLayers = [{}]\n)\n",
            sublayers.join(", ")
        ),
    )
    .unwrap();
}

/// The bytes of the files `names` in `dir`, to check after a run that it left them as they were.
pub struct Unchanged<'a> {
    dir: &'a Path,
    files: Vec<(&'a str, Vec<u8>)>,
}

impl<'a> Unchanged<'a> {
    pub fn read(dir: &'a Path, names: &[&'a str]) -> Self {
        Unchanged { dir, files: names.iter().map(|n| (*n, std::fs::read(dir.join(n)).unwrap())).collect() }
    }

    /// Panics naming the first file whose bytes changed.
    pub fn check(&self) {
        for (n, b) in &self.files {
            assert_eq!(&std::fs::read(self.dir.join(n)).unwrap(), b, "{n} changed");
        }
    }
}

/// An address on 127.0.0.1 with a port that was free a moment ago.
pub fn local_addr() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().unwrap()
}

/// Starts the built binary's `twinloom demo` for `seconds`, writing its stage to `stage` and its stderr to
/// `log`, and waits until it serves; returns it (stopped when dropped) and its address.
pub fn demo(stage: &Path, seconds: &str, log: &Path) -> (ChildGuard, SocketAddr) {
    let addr = local_addr();
    let guard = start_demo(env!("CARGO_BIN_EXE_twinloom"), addr, stage, &["--seconds", seconds], Some(log));
    (guard, addr)
}
