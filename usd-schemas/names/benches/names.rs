//! Throughput of name validation: `names.prim` (one name at a time, like getValidPrimName) and
//! `names.siblings` (one request of many names under one parent, like getValidChildNames).
//! Prints one JSON object per measurement on stdout; an optional argument filters by name prefix.

use std::hint::black_box;
use std::time::Instant;

use twinloom_usd_names::{valid_child_names, valid_prim_name};

/// A plant-like mix: OPC UA browse paths, names with spaces, umlauts, CJK, duplicates.
fn sample_names(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 5 {
            0 => format!("ns=2;s=Line{}.Station{:03}.Robot{}", i % 7, i % 97, i % 4),
            1 => format!("Station {:03} - Framing", i % 500),
            2 => format!("Ofen Zone {} Temperatur (°C)", i % 12),
            3 => format!("ロボット{}", i % 50),
            _ => format!("Robot_{i}"),
        })
        .collect()
}

fn report(name: &str, count: usize, seconds: f64) {
    println!(
        "{{\"name\":\"{name}\",\"value\":{:.0},\"unit\":\"names/s\",\"names\":{count},\"seconds\":{seconds:.4}}}",
        count as f64 / seconds
    );
}

fn main() {
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    let names = sample_names(100_000);
    if "names.prim".starts_with(&prefix) {
        eprintln!("names.prim: {} names", names.len());
        let start = Instant::now();
        let total: usize = names.iter().map(|n| black_box(valid_prim_name(n)).len()).sum();
        black_box(total);
        report("names.prim", names.len(), start.elapsed().as_secs_f64());
    }
    if "names.siblings".starts_with(&prefix) {
        eprintln!("names.siblings: {} names under one parent", names.len());
        let start = Instant::now();
        let unique = black_box(valid_child_names(&names));
        report("names.siblings", unique.len(), start.elapsed().as_secs_f64());
    }
}
