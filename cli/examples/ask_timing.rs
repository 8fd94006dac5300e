//! Times `twinloom ask`'s answering (parse + answer over the CLI's real facts) for the copilot's question
//! test set (extensions/copilot/tests/questions.toml) once every fact those questions need has been computed
//! (issue 19's `ask_p95_ms`: questions that need no new analysis). The facts are the command's own
//! (cli/src/cmd/ask.rs): the sample plant's new-variant stage and docs/payback.md's ledger, written to a
//! temporary folder; a warm-up pass computes them (the BIW studies take seconds), then 20 timed passes.
//! Prints one JSON object per line in ci/bench's format.
//! `cargo run -p twinloom --example ask_timing` (`--release` for release numbers).

use std::path::Path;
use std::time::Instant;

/// What `out!` does in the program; here only the module's `run`, which the example does not call, uses it.
macro_rules! out {
    ($($arg:tt)*) => {
        println!($($arg)*)
    };
}

#[allow(dead_code)]
#[path = "../src/cmd/ask.rs"]
mod ask;

/// The `text = "…"` lines of the test set.
fn questions(toml: &str) -> Vec<String> {
    toml.lines()
        .filter_map(|l| l.strip_prefix("text = "))
        .filter_map(|v| serde_json::from_str::<String>(v).ok())
        .collect()
}

/// The body of the first fenced block that starts with "```{lang}".
fn block(doc: &str, lang: &str) -> Option<String> {
    let fence = format!("```{lang}\n");
    let start = doc.find(&fence)? + fence.len();
    Some(doc[start..start + doc[start..].find("```")?].to_string())
}

fn setup(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/payback.md"))?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("payback.toml"), block(&doc, "toml").ok_or("docs/payback.md: no toml block")?)?;
    std::fs::write(dir.join("actuals.csv"), block(&doc, "csv").ok_or("docs/payback.md: no csv block")?)?;
    twinloom_plant_layout::write_layout_variant(&dir.join("layout.usda"), twinloom_plant_layout::Variant::New)?;
    let mut l = twinloom_usd::Layer::create_anonymous("ask-timing-root", "usda")?;
    l.set_default_prim("Plant")?;
    l.set_up_axis(twinloom_usd::UpAxis::Z)?;
    l.set_meters_per_unit(1.0)?;
    l.set_sublayers(&["./layout.usda"])?;
    l.export_atomic(&dir.join("plant.usda"))?;
    Ok(())
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../extensions/copilot/tests/questions.toml");
    let qs = match std::fs::read_to_string(path) {
        Ok(t) => questions(&t),
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let dir = std::env::temp_dir().join(format!("twinloom-ask-timing-{}", std::process::id()));
    if let Err(e) = setup(&dir) {
        eprintln!("ask_timing: setting up {}: {e}", dir.display());
        std::process::exit(2);
    }
    let facts = ask::CliFacts::new(Some(dir.clone()), Some(dir.join("payback.toml")));
    let t = Instant::now();
    let answered = qs.iter().filter(|q| twinloom_copilot::ask(q, &facts).answered).count();
    let warmup = t.elapsed().as_secs_f64();
    let mut times = Vec::new();
    for _ in 0..20 {
        for q in &qs {
            let t = Instant::now();
            std::hint::black_box(twinloom_copilot::ask(std::hint::black_box(q), &facts));
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!("{{\"name\":\"ask_p50_ms\",\"value\":{:.3},\"unit\":\"ms\"}}", at(0.5));
    println!("{{\"name\":\"ask_p95_ms\",\"value\":{:.3},\"unit\":\"ms\"}}", at(0.95));
    println!("{{\"name\":\"ask_questions\",\"value\":{},\"unit\":\"questions\"}}", qs.len());
    println!("{{\"name\":\"ask_answered\",\"value\":{answered},\"unit\":\"questions\"}}");
    println!("{{\"name\":\"ask_warmup_s\",\"value\":{warmup:.1},\"unit\":\"s\"}}");
}
