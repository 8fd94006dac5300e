//! `twinloom audit verify` on journals written through the library (ok, a modified entry, a deleted line,
//! swapped lines, a torn last line, an unreadable file, `--json`), and every shell example of docs/audit.md
//! run exactly as the page prints it, with the output it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use twinloom_connector::audit::Journal;
use twinloom_tests::{workspace_root, TempDir};

fn twinloom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_twinloom"))
}

/// `twinloom audit verify [extra…] FILE`.
fn verify(file: &Path, extra: &[&str]) -> Output {
    twinloom().args(["audit", "verify"]).args(extra).arg(file).output().expect("start twinloom")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A journal of `n` write-command entries at `dir/name`; returns its path and the entries' hashes.
fn journal(dir: &Path, name: &str, n: u64) -> (PathBuf, Vec<String>) {
    let path = dir.join(name);
    let mut j = Journal::open(&path).unwrap();
    let hashes = (1..=n)
        .map(|i| {
            let record = json!({
                "command": format!("c-{i:06}"),
                "who": "alice",
                "target": "paint.booth1.temperature_setpoint",
                "value": 70.0 + i as f64,
                "state": "accepted",
            });
            j.append(&record).unwrap().hash
        })
        .collect();
    (path, hashes)
}

fn edit_lines(path: &Path, edit: impl FnOnce(&mut Vec<String>)) {
    let mut lines: Vec<String> = std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect();
    edit(&mut lines);
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

/// Checks exit status 1 and the problem line `FILE:LINE: KIND: DETAIL` on stderr; returns stderr.
fn assert_problem(out: &Output, file: &Path, line: usize, kind: &str, detail: &str) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stdout: {}\nstderr: {err}", text(&out.stdout));
    let want = format!("{}:{line}: {kind}: {detail}\n", file.display());
    assert!(err.starts_with(&want), "want {want:?} in:\n{err}");
    err
}

#[test]
fn a_valid_journal_prints_its_count_and_last_hash() {
    let dir = TempDir::new("audit-cmd-ok");
    let (path, hashes) = journal(dir.path(), "audit.jsonl", 4);
    let out = verify(&path, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}: ok, 4 entries, last seq 4, last hash {}\n", path.display(), hashes[3]));
    assert_eq!(text(&out.stderr), "");

    let out = verify(&path, &["--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = json!({
        "file": path.display().to_string(),
        "ok": true,
        "entries": 4,
        "last_seq": 4,
        "last_hash": hashes[3],
        "problem": null,
    });
    assert_eq!(v, want);
}

#[test]
fn a_modified_entry_is_named_by_its_line() {
    let dir = TempDir::new("audit-cmd-altered");
    let (path, hashes) = journal(dir.path(), "audit.jsonl", 5);
    edit_lines(&path, |l| {
        assert!(l[2].contains(r#""value":73.0"#), "{}", l[2]);
        l[2] = l[2].replace(r#""value":73.0"#, r#""value":99.0"#);
    });
    let out = verify(&path, &[]);
    let err = assert_problem(&out, &path, 3, "altered", "the entry's content does not match its hash");
    let valid =
        format!("{}: not ok, 2 entries valid before line 3, last seq 2, last hash {}\n", path.display(), hashes[1]);
    assert!(err.ends_with(&valid), "{err}");
    assert_eq!(text(&out.stdout), "");

    let out = verify(&path, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], json!(false));
    assert_eq!(v["entries"], json!(2));
    assert_eq!(
        v["problem"],
        json!({"line": 3, "kind": "altered", "detail": "the entry's content does not match its hash"})
    );
}

#[test]
fn a_deleted_line_is_named_by_its_line() {
    let dir = TempDir::new("audit-cmd-removed");
    let (path, _) = journal(dir.path(), "audit.jsonl", 5);
    edit_lines(&path, |l| {
        l.remove(3);
    });
    assert_problem(&verify(&path, &[]), &path, 4, "removed", "seq 5 follows seq 3: 1 entry missing (seq 4)");
}

#[test]
fn swapped_lines_are_named_by_the_first_of_them() {
    let dir = TempDir::new("audit-cmd-swapped");
    let (path, _) = journal(dir.path(), "audit.jsonl", 5);
    edit_lines(&path, |l| l.swap(1, 3));
    let detail = "seq 4 follows seq 1, and seq 3 comes later in the file";
    assert_problem(&verify(&path, &[]), &path, 2, "reordered", detail);
}

#[test]
fn a_torn_last_line_is_named() {
    let dir = TempDir::new("audit-cmd-torn");
    let (path, _) = journal(dir.path(), "audit.jsonl", 3);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let out = verify(&path, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with(&format!("{}:3: torn: ", path.display())), "{}", text(&out.stderr));
}

#[test]
fn an_unreadable_journal_is_an_error_with_exit_status_2() {
    let dir = TempDir::new("audit-cmd-unreadable");
    let missing = dir.path().join("missing.jsonl");
    let out = verify(&missing, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let want = format!("twinloom: error: audit verify: cannot read audit journal {}: ", missing.display());
    assert!(err.starts_with(&want), "{err}");
    // A folder is not a journal either.
    let out = verify(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// docs/audit.md's shell examples, in the page's order. Each block of the page runs as one bash script; the
/// page must hold exactly these commands.
const DOC_COMMANDS: &[&str] = &[
    r#"head -n 1 plant-audit.jsonl | sed 's/,"hash":"[0-9a-f]*"}$/}/' | tr -d '\n' | sha256sum"#,
    "twinloom audit verify plant-audit.jsonl",
    r#"sed 's/"read_back":80.0/"read_back":95.0/' plant-audit.jsonl > altered.jsonl"#,
    r#"twinloom audit verify altered.jsonl; echo "exit $?""#,
    "sed '2d' plant-audit.jsonl > removed.jsonl",
    r#"twinloom audit verify removed.jsonl; echo "exit $?""#,
    "awk 'NR == 2 { held = $0; next } { print } NR == 3 { print held }' plant-audit.jsonl > swapped.jsonl",
    r#"twinloom audit verify swapped.jsonl; echo "exit $?""#,
    r#"twinloom audit verify missing.jsonl; echo "exit $?""#,
    "twinloom audit verify --json removed.jsonl",
    "head -n 2 plant-audit.jsonl > truncated.jsonl",
    "twinloom audit verify truncated.jsonl",
    r#"sed -n '2s/.*"hash":"\([0-9a-f]*\)"}$/\1/p' plant-audit.jsonl"#,
];

/// The fenced blocks of a Markdown page with the given info string, in order.
fn blocks<'a>(doc: &'a str, info: &str) -> Vec<&'a str> {
    let open = format!("```{info}\n");
    let mut found = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let end = body.find("```\n").expect("a closed block");
        found.push(&body[..end]);
        rest = &body[end..];
    }
    found
}

fn docs_page() -> String {
    std::fs::read_to_string(workspace_root().join("docs/audit.md")).unwrap()
}

#[test]
fn the_docs_examples_run_as_printed() {
    let doc = docs_page();
    let dir = TempDir::new("audit-cmd-docs");
    let journals = blocks(&doc, "json");
    assert_eq!(journals.len(), 1, "one example journal");
    std::fs::write(dir.path().join("plant-audit.jsonl"), journals[0]).unwrap();

    let bin = Path::new(env!("CARGO_BIN_EXE_twinloom")).parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let mut commands = Vec::new();
    let examples = blocks(&doc, "console");
    assert!(examples.len() >= 5, "{} console blocks", examples.len());
    for block in examples {
        let (mut script, mut want) = (String::from("exec 2>&1\n"), String::new());
        for line in block.lines() {
            match line.strip_prefix("$ ") {
                Some(command) => {
                    commands.push(command.to_string());
                    script.push_str(command);
                    script.push('\n');
                }
                None => {
                    want.push_str(line);
                    want.push('\n');
                }
            }
        }
        let out =
            Command::new("bash").arg("-c").arg(&script).current_dir(dir.path()).env("PATH", &path).output().unwrap();
        assert_eq!(text(&out.stdout), want, "docs/audit.md block:\n{block}");
    }
    assert_eq!(commands, DOC_COMMANDS, "docs/audit.md's commands and DOC_COMMANDS differ");
}

#[test]
fn the_docs_example_journal_is_what_the_library_writes() {
    // The page's first entry, written through the library: the same canonical bytes but for `ts`.
    let doc = docs_page();
    let example = blocks(&doc, "json")[0].lines().next().unwrap().to_string();
    let dir = TempDir::new("audit-cmd-docs-lib");
    let path = dir.path().join("audit.jsonl");
    let mut j = Journal::open(&path).unwrap();
    let record = json!({
        "command": "c-000017",
        "who": "alice",
        "target": "paint.booth1.temperature_setpoint",
        "value": 80.0,
        "state": "accepted",
        "rule": "min_max",
        "twin_seen": 78.5,
    });
    let entry = j.append(&record).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    let canonical = |line: &str| line[..line.rfind(",\"hash\":").unwrap()].to_string();
    let example_ts = "2026-03-02T06:14:03.120Z";
    assert!(example.contains(example_ts));
    assert_eq!(canonical(written.trim_end()).replace(&entry.ts, example_ts), canonical(&example));
}
