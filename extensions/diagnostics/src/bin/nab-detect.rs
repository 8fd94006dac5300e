//! Runs the detector over the NAB corpus and writes NAB result files
//! (`OUT/twinloom/<category>/twinloom_<file>.csv`: timestamp,value,anomaly_score,label).
//!
//! Usage: `nab-detect --nab NAB_DIR --out RESULTS_DIR [--score] [--report] [--set name=value]...`
//! `--trace category/file.csv` prints that file's anomalous rows (score, alert, component) on stderr.
//! `--report` adds, on stderr, which windows the standard-profile threshold catches per file.
//! `--score` also prints the scores of this crate's port of NAB's scorer (quick local check; the
//! reported numbers come from NAB's Python scorer, see `ci/nab`). `--set` overrides a detector
//! setting (for experiments; the benchmark uses the defaults).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use twinloom_diagnostics::nab::{self, SweepPoint, PROFILES};
use twinloom_diagnostics::{DetectorConfig, DiagnosticsError};

/// The detector's name in NAB (no underscore: NAB splits result file names on it).
const NAME: &str = "twinloom";

struct Args {
    nab: PathBuf,
    out: Option<PathBuf>,
    score: bool,
    report: bool,
    trace: Option<String>,
    config: DetectorConfig,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        nab: PathBuf::from("../shared/data/nab"),
        out: None,
        score: false,
        report: false,
        trace: None,
        config: DetectorConfig::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--nab" => args.nab = it.next().ok_or("--nab needs a folder")?.into(),
            "--out" => args.out = Some(it.next().ok_or("--out needs a folder")?.into()),
            "--score" => args.score = true,
            "--trace" => args.trace = Some(it.next().ok_or("--trace needs a file (category/name.csv)")?),
            "--report" => {
                args.score = true;
                args.report = true;
            }
            "--set" => {
                let kv = it.next().ok_or("--set needs name=value")?;
                let (k, v) = kv.split_once('=').ok_or("--set needs name=value")?;
                args.config.set(k, v).map_err(|e| e.to_string())?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// Prints the anomalous rows of one file, marking those inside a label window.
fn trace(config: &DetectorConfig, rows: &[nab::Row], windows: &[(i64, i64)]) {
    let mut cfg = *config;
    cfg.warmup_samples = nab::probation_len(rows.len()) as u32;
    let mut state = twinloom_diagnostics::SignalState::new();
    for (i, r) in rows.iter().enumerate() {
        let v = state.update(&cfg, r.t_ms, r.value);
        if let Some(e) = v.explanation {
            let inside = windows.iter().any(|&(a, b)| r.t_ms >= a && r.t_ms <= b);
            eprintln!(
                "{i} {} {} score {:.3} alert {:.3} {:?} {}",
                r.timestamp,
                r.value_text,
                v.score,
                v.alert,
                e.component,
                if inside { "IN-WINDOW" } else { "" }
            );
        }
    }
}

fn write_results(
    out: &Path,
    file: &str,
    rows: &[nab::Row],
    scores: &[f64],
    windows: &[(i64, i64)],
) -> Result<(), DiagnosticsError> {
    let (category, name) = file.split_once('/').unwrap_or(("", file));
    let dir = out.join(NAME).join(category);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DiagnosticsError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let path = dir.join(format!("{NAME}_{name}"));
    let mut text = String::with_capacity(rows.len() * 48);
    text.push_str("timestamp,value,anomaly_score,label\n");
    for (r, s) in rows.iter().zip(scores) {
        let label = windows.iter().any(|&(a, b)| r.t_ms >= a && r.t_ms <= b) as u8;
        text.push_str(&format!("{},{},{},{}\n", r.timestamp, r.value_text, s, label));
    }
    let mut f = std::fs::File::create(&path).map_err(io(&path))?;
    f.write_all(text.as_bytes()).map_err(io(&path))
}

fn run(args: &Args) -> Result<(), DiagnosticsError> {
    let files = nab::data_files(&args.nab)?;
    let windows = nab::read_windows(&args.nab.join("labels").join("combined_windows.json"))?;
    let mut points: Vec<Vec<SweepPoint>> = vec![Vec::new(); PROFILES.len()];
    let mut window_count = 0;
    for file in &files {
        let Some(w) = windows.get(file) else { continue };
        let rows = nab::read_series(&args.nab.join("data").join(file))?;
        let scores = nab::detect_series(&args.config, &rows);
        if args.trace.as_deref() == Some(file.as_str()) {
            trace(&args.config, &rows, w);
        }
        if let Some(out) = &args.out {
            write_results(out, file, &rows, &scores, w)?;
        }
        if args.score {
            let t: Vec<i64> = rows.iter().map(|r| r.t_ms).collect();
            for (p, profile) in PROFILES.iter().enumerate() {
                points[p].extend(nab::sweep_file(&t, &scores, w, window_count, profile));
            }
        }
        window_count += w.len();
    }
    if args.score {
        for (p, profile) in PROFILES.iter().enumerate() {
            let (threshold, raw) = nab::optimize(&mut points[p], window_count, profile);
            let norm = nab::normalize(raw, window_count, profile);
            if args.report && p == 0 {
                let mut hit = vec![false; window_count];
                let mut fps = 0;
                let mut fp_cost = 0.0;
                let mut best = vec![f64::NEG_INFINITY; window_count];
                for q in points[p].iter().filter(|q| q.score >= threshold) {
                    match q.window {
                        Some(w) => {
                            hit[w] = true;
                            best[w] = best[w].max(q.sweep);
                        }
                        None => {
                            fps += 1;
                            fp_cost += q.sweep;
                        }
                    }
                }
                let tp: f64 = best.iter().filter(|b| b.is_finite()).sum();
                eprintln!("tp credit {tp:.2}, fp cost {fp_cost:.2}");
                let mut id = 0;
                for file in &files {
                    let Some(w) = windows.get(file) else { continue };
                    let h: String = (id..id + w.len()).map(|i| if hit[i] { 'X' } else { '.' }).collect();
                    eprintln!("{file:60} {h}");
                    id += w.len();
                }
                eprintln!("hit {} of {window_count}, fp {fps}", hit.iter().filter(|h| **h).count());
            }
            println!(
                "{{\"profile\":\"{}\",\"threshold\":{threshold},\"raw\":{raw:.4},\"score\":{norm:.4}}}",
                profile.name
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nab-detect: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nab-detect: {e}");
            ExitCode::FAILURE
        }
    }
}
