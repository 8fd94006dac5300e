//! `twinloom audit verify FILE [--json]`: checks an audit journal (docs/audit.md) and prints
//! `FILE: ok, N entries, last seq S, last hash H` (exit 0), or its first problem as `FILE:LINE: KIND: DETAIL`
//! on stderr (exit 1). A file that cannot be read is an error (exit 2).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use twinloom_connector::audit;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check an audit journal: every entry's hash and its link to the one before. Prints the entry count
    /// and the last hash (keep them elsewhere: cutting entries off the end is only visible against them),
    /// or the first problem with its line.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The journal (JSON lines, one entry per line).
    pub file: PathBuf,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Verify(args) => verify(args),
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let report = audit::verify(&args.file).context("audit verify")?;
    let file = args.file.display();
    let code = if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) };
    if args.json {
        let problem =
            report.first_problem.as_ref().map(|p| json!({"line": p.line, "kind": p.kind.as_str(), "detail": p.detail}));
        let v = json!({
            "file": file.to_string(),
            "ok": report.is_ok(),
            "entries": report.entries,
            "last_seq": report.last_seq,
            "last_hash": report.last_hash,
            "problem": problem,
        });
        out!("{}", serde_json::to_string_pretty(&v).context("JSON")?);
        return Ok(code);
    }
    let (entries, seq, hash) = (count(report.entries), report.last_seq, &report.last_hash);
    match &report.first_problem {
        None => out!("{file}: ok, {entries}, last seq {seq}, last hash {hash}"),
        Some(p) => {
            eprintln!("{file}:{}: {}: {}", p.line, p.kind, p.detail);
            eprintln!("{file}: not ok, {entries} valid before line {}, last seq {seq}, last hash {hash}", p.line);
        }
    }
    Ok(code)
}

fn count(entries: u64) -> String {
    if entries == 1 {
        "1 entry".to_string()
    } else {
        format!("{entries} entries")
    }
}
