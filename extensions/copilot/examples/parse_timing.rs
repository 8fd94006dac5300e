//! Times `parse` over the question test set (tests/questions.toml) and prints one JSON object per line in
//! ci/bench's format: the median and 95th percentile per question in microseconds, and the question count.
//! `cargo run --release -p twinloom-copilot --example parse_timing [-- --show]`; `--show` also prints each
//! question with the intent it parses to.

use std::time::Instant;

use twinloom_copilot::parse;

/// The `text = "…"` lines of the test set (the example needs no TOML parser).
fn questions(toml: &str) -> Vec<String> {
    toml.lines()
        .filter_map(|l| l.strip_prefix("text = "))
        .filter_map(|v| serde_json::from_str::<String>(v).ok())
        .collect()
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/questions.toml");
    let toml = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let qs = questions(&toml);
    if std::env::args().any(|a| a == "--show") {
        for q in &qs {
            println!("{q:?} -> {}", serde_json::to_string(&parse(q)).unwrap_or_default());
        }
    }
    let mut times = Vec::new();
    for _ in 0..200 {
        for q in &qs {
            let t = Instant::now();
            std::hint::black_box(parse(std::hint::black_box(q)));
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!("{{\"name\":\"copilot_parse_p50_us\",\"value\":{:.1},\"unit\":\"us\"}}", at(50));
    println!("{{\"name\":\"copilot_parse_p95_us\",\"value\":{:.1},\"unit\":\"us\"}}", at(95));
    println!("{{\"name\":\"copilot_parse_questions\",\"value\":{},\"unit\":\"questions\"}}", qs.len());
}
