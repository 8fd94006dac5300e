//! Times `twinloom recommend`'s assembly recommendation (issue 19's `recommend_assembly_s`, target ≤ 10 s):
//! the command's own code (cli/src/cmd/recommend.rs) on the sample plant's assembly line
//! (samples/models/assembly_line.toml, the demo simulator's line) with its sample tasks — the plant and every
//! sibling (two buffers, an extra operator, the exact SALBP-2 rebalance), 10 replications each of 264
//! simulated hours. Best of three runs. Prints one JSON object per line in ci/bench's format.
//! `cargo run -p twinloom --example recommend_timing` (the flow crate is optimised in every profile).

use std::path::Path;
use std::time::Instant;

/// What `out!` does in the program; here only the module's `run`, which the example does not call, uses it.
macro_rules! out {
    ($($arg:tt)*) => {
        println!($($arg)*)
    };
}

#[allow(dead_code)]
#[path = "../src/cmd/recommend.rs"]
mod recommend;

// recommend.rs calls its sibling modules through `super::`: they are the example's modules too.
#[allow(dead_code)]
#[path = "../src/cmd/recommend_paint.rs"]
mod recommend_paint;

#[allow(dead_code)]
#[path = "../src/cmd/recommend_biw.rs"]
mod recommend_biw;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let args = recommend::Args {
        stage: None,
        model: Some(root.join("samples/models/assembly_line.toml")),
        line: None,
        tasks: Some(root.join("samples/models/assembly_line_tasks.alb")),
        domain: "assembly".into(),
        paint_model: None,
        cure_margin_min: 0.5,
        peak_margin_c: 1.0,
        paint_min_rate: None,
        replications: 10,
        seed: 1,
        horizon_h: 240.0,
        warmup_h: 24.0,
        operator_factor: 0.6,
        out: None,
        json: true,
    };
    let mut best = f64::INFINITY;
    let mut recs = 0;
    for _ in 0..3 {
        let t = Instant::now();
        match recommend::recommend(&args) {
            Ok(r) => recs = r.recommendations.len(),
            Err(e) => {
                eprintln!("recommend_timing: {e:#}");
                std::process::exit(2);
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{{\"name\":\"recommend_assembly_s\",\"value\":{best:.3},\"unit\":\"s\"}}");
    println!("{{\"name\":\"recommend_assembly_recommendations\",\"value\":{recs},\"unit\":\"recommendations\"}}");
}
