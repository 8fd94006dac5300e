//! The audit journal (twinloom_connector::audit, docs/audit.md): the chain across reopening, the entry
//! format and its canonical bytes, every kind of tampering found at its line, a broken journal refused on
//! open, reserved fields refused, one writer per file, appends from several threads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use twinloom_connector::audit::{verify, AuditError, Journal, Problem, ProblemKind, GENESIS};
use twinloom_tests::TempDir;

/// A journal of `n` entries (a write command's decision each) at `dir/audit.jsonl`.
fn journal(dir: &Path, n: u64) -> PathBuf {
    let path = dir.join("audit.jsonl");
    let mut j = Journal::open(&path).unwrap();
    for i in 1..=n {
        let record = json!({
            "who": "operator:alice",
            "command": format!("cmd-{i:04}"),
            "target": "paint/Booth1.setpoint",
            "value": 80.0 + i as f64 / 4.0,
            "state": "allowed",
        });
        j.append(&record).unwrap();
    }
    path
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

fn first_problem(path: &Path) -> Problem {
    let report = verify(path).unwrap();
    report.first_problem.unwrap_or_else(|| panic!("no problem found in {}", std::fs::read_to_string(path).unwrap()))
}

/// Checks that opening refuses the journal, naming its file and the problem's line, and leaves it as it is.
fn open_refuses(path: &Path, line: usize, kind: ProblemKind) {
    let before = std::fs::read(path).unwrap();
    match Journal::open(path) {
        Err(e @ AuditError::Broken { .. }) => {
            let AuditError::Broken { path: p, problem } = &e else { unreachable!() };
            assert_eq!((p.as_path(), problem.line, problem.kind), (path, line, kind), "{e}");
            let message = e.to_string();
            assert!(message.starts_with(&format!("audit journal {}:{line}: {kind}: ", path.display())), "{message}");
        }
        other => panic!("open did not refuse the broken journal: {other:?}"),
    }
    assert_eq!(std::fs::read(path).unwrap(), before, "a refused open changed the file");
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_chain_continues_across_reopening() {
    let dir = TempDir::new("audit-reopen");
    let path = dir.path().join("nested/folder/audit.jsonl");
    let (first, second) = {
        let mut j = Journal::open(&path).unwrap();
        assert_eq!((j.last_seq(), j.last_hash()), (0, GENESIS));
        let a = j.append(&json!({"command": "a"})).unwrap();
        let b = j.append(&json!({"command": "b"})).unwrap();
        (a, b)
    };
    assert_eq!((first.seq, first.prev.as_str()), (1, GENESIS));
    assert_eq!((second.seq, &second.prev), (2, &first.hash));

    let mut j = Journal::open(&path).unwrap();
    assert_eq!((j.last_seq(), j.last_hash()), (2, second.hash.as_str()));
    let third = j.append(&json!({"command": "c"})).unwrap();
    assert_eq!((third.seq, &third.prev), (3, &second.hash));
    drop(j);

    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.entries, report.last_seq, report.last_hash), (3, 3, third.hash));
}

#[test]
fn an_entry_is_one_line_of_sorted_fields_with_its_hash_last() {
    let dir = TempDir::new("audit-format");
    let path = dir.path().join("audit.jsonl");
    let mut j = Journal::open(&path).unwrap();
    let record = json!({"who": "alice", "value": 80.5, "target": {"shop": "paint", "attr": "setpoint"}, "n": null});
    let entry = j.append(&record).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text:?}");
    let line = text.trim_end_matches('\n');

    // The canonical bytes: the line with its last field (hash) cut out; keys sorted, compact.
    let hash_field = format!(",\"hash\":\"{}\"}}", entry.hash);
    let canonical = format!("{}}}", line.strip_suffix(&hash_field).expect("hash is the last field"));
    assert_eq!(sha256_hex(canonical.as_bytes()), entry.hash);
    let expected = format!(
        r#"{{"n":null,"prev":"{GENESIS}","seq":1,"target":{{"attr":"setpoint","shop":"paint"}},"ts":"{}","value":80.5,"who":"alice"}}"#,
        entry.ts
    );
    assert_eq!(canonical, expected);

    // ts: RFC 3339 UTC with milliseconds.
    let ts = entry.ts.as_bytes();
    assert_eq!(ts.len(), 24, "{}", entry.ts);
    for (i, c) in ts.iter().enumerate() {
        match i {
            4 | 7 => assert_eq!(*c, b'-'),
            10 => assert_eq!(*c, b'T'),
            13 | 16 => assert_eq!(*c, b':'),
            19 => assert_eq!(*c, b'.'),
            23 => assert_eq!(*c, b'Z'),
            _ => assert!(c.is_ascii_digit(), "{}", entry.ts),
        }
    }
    let parsed: Map<String, Value> = serde_json::from_str(line).unwrap();
    assert_eq!(parsed["hash"], json!(entry.hash));
}

#[test]
fn typed_records_are_appended_too() {
    #[derive(serde::Serialize)]
    struct Decision<'a> {
        who: &'a str,
        command: &'a str,
        value: f64,
    }
    let dir = TempDir::new("audit-typed");
    let path = dir.path().join("audit.jsonl");
    let mut j = Journal::open(&path).unwrap();
    j.append(&Decision { who: "alice", command: "cmd-1", value: 1.25 }).unwrap();
    let mut fields = Map::new();
    fields.insert("read_back".into(), json!(1.25));
    j.append(&fields).unwrap();
    assert!(verify(&path).unwrap().is_ok());
    assert!(lines(&path)[0].contains(r#""command":"cmd-1","prev":"#), "{}", lines(&path)[0]);
}

#[test]
fn an_entry_is_complete_in_the_file_when_append_returns() {
    // append syncs (sync_data) before it returns; here: another reader sees the whole line at once.
    let dir = TempDir::new("audit-durable");
    let path = dir.path().join("audit.jsonl");
    let mut j = Journal::open(&path).unwrap();
    for i in 1..=20u64 {
        let e = j.append(&json!({"command": format!("cmd-{i}"), "pad": "x".repeat(i as usize * 100)})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with(&format!("\"hash\":\"{}\"}}\n", e.hash)));
        let report = verify(&path).unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!((report.entries, report.last_seq), (i, i));
    }
}

#[test]
fn a_modified_value_is_altered_at_its_line() {
    let dir = TempDir::new("audit-altered");
    let path = journal(dir.path(), 5);
    let mut l = lines(&path);
    assert!(l[2].contains(r#""value":80.75"#), "{}", l[2]);
    l[2] = l[2].replace(r#""value":80.75"#, r#""value":95.0"#);
    write_lines(&path, &l);
    let report = verify(&path).unwrap();
    assert_eq!((report.entries, report.last_seq), (2, 2));
    let p = report.first_problem.unwrap();
    assert_eq!((p.line, p.kind), (3, ProblemKind::Altered), "{p:?}");
    assert_eq!(p.detail, "the entry's content does not match its hash");
    open_refuses(&path, 3, ProblemKind::Altered);
}

#[test]
fn a_modified_entry_with_a_recomputed_hash_breaks_the_next_link() {
    let dir = TempDir::new("audit-rehashed");
    let path = journal(dir.path(), 5);
    let mut l = lines(&path);
    let at = l[1].rfind(",\"hash\":").unwrap();
    let canonical = format!("{}}}", &l[1][..at]).replace(r#""value":80.5"#, r#""value":95.0"#);
    l[1] = format!("{},\"hash\":\"{}\"}}", &canonical[..canonical.len() - 1], sha256_hex(canonical.as_bytes()));
    write_lines(&path, &l);
    let p = first_problem(&path);
    assert_eq!((p.line, p.kind), (3, ProblemKind::Altered), "{p:?}");
    assert!(p.detail.contains("prev does not match the hash of line 2"), "{}", p.detail);
    open_refuses(&path, 3, ProblemKind::Altered);
}

#[test]
fn a_deleted_line_is_removed_at_its_line() {
    let dir = TempDir::new("audit-removed");
    let path = journal(dir.path(), 5);
    let mut l = lines(&path);
    l.remove(2);
    write_lines(&path, &l);
    let p = first_problem(&path);
    assert_eq!((p.line, p.kind), (3, ProblemKind::Removed), "{p:?}");
    assert_eq!(p.detail, "seq 4 follows seq 2: 1 entry missing (seq 3)");
    open_refuses(&path, 3, ProblemKind::Removed);

    // Two in the middle, and the head.
    let path = journal(&dir.path().join("two"), 6);
    let mut l = lines(&path);
    l.drain(1..3);
    write_lines(&path, &l);
    let p = first_problem(&path);
    assert_eq!(
        (p.line, p.kind, p.detail.as_str()),
        (2, ProblemKind::Removed, "seq 4 follows seq 1: 2 entries missing (seq 2 to 3)")
    );
    let path = journal(&dir.path().join("head"), 3);
    let mut l = lines(&path);
    l.remove(0);
    write_lines(&path, &l);
    let p = first_problem(&path);
    assert_eq!((p.line, p.kind), (1, ProblemKind::Removed), "{p:?}");
    assert_eq!(p.detail, "seq 2 follows the start: 1 entry missing (seq 1)");
}

#[test]
fn swapped_lines_are_reordered_at_the_first_of_them() {
    let dir = TempDir::new("audit-swapped");
    let path = journal(dir.path(), 5);
    let mut l = lines(&path);
    l.swap(1, 2);
    write_lines(&path, &l);
    let p = first_problem(&path);
    assert_eq!((p.line, p.kind), (2, ProblemKind::Reordered), "{p:?}");
    assert_eq!(p.detail, "seq 3 follows seq 1, and seq 2 comes later in the file");
    open_refuses(&path, 2, ProblemKind::Reordered);

    // Lines apart, and the last two (seq goes backwards).
    let path = journal(&dir.path().join("apart"), 6);
    let mut l = lines(&path);
    l.swap(1, 4);
    write_lines(&path, &l);
    let p = first_problem(&path);
    assert_eq!((p.line, p.kind), (2, ProblemKind::Reordered), "{p:?}");
    let path = journal(&dir.path().join("backwards"), 4);
    let mut l = lines(&path);
    let last = l.pop().unwrap();
    l.insert(2, last);
    write_lines(&path, &l);
    let p = first_problem(&path);
    assert_eq!((p.line, p.kind), (3, ProblemKind::Reordered), "{p:?}");
}

#[test]
fn a_repeated_line_is_reordered() {
    let dir = TempDir::new("audit-repeated");
    let path = journal(dir.path(), 4);
    let mut l = lines(&path);
    l.insert(2, l[1].clone());
    write_lines(&path, &l);
    let p = first_problem(&path);
    assert_eq!((p.line, p.kind, p.detail.as_str()), (3, ProblemKind::Reordered, "seq 2 repeats"));
    open_refuses(&path, 3, ProblemKind::Reordered);
}

#[test]
fn a_torn_last_line_is_found_and_refused() {
    let dir = TempDir::new("audit-torn");
    let path = journal(dir.path(), 4);
    let text = std::fs::read_to_string(&path).unwrap();
    // Cut in the middle of the last line.
    std::fs::write(&path, &text[..text.len() - 40]).unwrap();
    let report = verify(&path).unwrap();
    assert_eq!(report.entries, 3);
    let p = report.first_problem.unwrap();
    assert_eq!((p.line, p.kind), (4, ProblemKind::Torn), "{p:?}");
    open_refuses(&path, 4, ProblemKind::Torn);
    // A complete entry without its newline is torn too (appending would join two entries on one line).
    std::fs::write(&path, &text[..text.len() - 1]).unwrap();
    let p = first_problem(&path);
    assert_eq!((p.line, p.kind), (4, ProblemKind::Torn), "{p:?}");
    open_refuses(&path, 4, ProblemKind::Torn);
}

#[test]
fn a_line_that_is_not_an_entry_is_malformed() {
    let dir = TempDir::new("audit-malformed");
    let path = journal(dir.path(), 4);
    let good = lines(&path);
    for (bad, why) in [
        ("this is not JSON", "not JSON"),
        ("", "empty line"),
        (r#"{"command":"cmd-0002"}"#, "hash is missing or not the line's last field"),
        ("[1,2,3]", "not a JSON object but an array"),
    ] {
        let mut l = good.clone();
        l[1] = bad.to_string();
        write_lines(&path, &l);
        let p = first_problem(&path);
        assert_eq!((p.line, p.kind), (2, ProblemKind::Malformed), "{bad:?}: {p:?}");
        assert!(p.detail.starts_with(why), "{bad:?}: {}", p.detail);
        open_refuses(&path, 2, ProblemKind::Malformed);
    }
    // The last line, newline and all, but not JSON.
    let mut l = good.clone();
    l.push("{\"seq\":5,".to_string());
    write_lines(&path, &l);
    let p = first_problem(&path);
    assert_eq!((p.line, p.kind), (5, ProblemKind::Malformed), "{p:?}");
    open_refuses(&path, 5, ProblemKind::Malformed);
}

#[test]
fn reserved_fields_and_non_objects_are_refused_and_nothing_is_written() {
    let dir = TempDir::new("audit-reserved");
    let path = dir.path().join("audit.jsonl");
    let mut j = Journal::open(&path).unwrap();
    for key in ["seq", "ts", "prev", "hash"] {
        let mut record = json!({"command": "cmd-1"});
        record[key] = json!(1);
        match j.append(&record) {
            Err(AuditError::ReservedField(k)) => assert_eq!(k, key),
            other => panic!("{key}: {other:?}"),
        }
    }
    for record in [json!(5), json!([1]), json!("x"), Value::Null] {
        assert!(matches!(j.append(&record), Err(AuditError::NotAnObject(_))), "{record}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    assert_eq!(j.append(&json!({"command": "cmd-1"})).unwrap().seq, 1);
}

#[test]
fn one_writer_per_journal() {
    let dir = TempDir::new("audit-locked");
    let path = dir.path().join("audit.jsonl");
    let j = Journal::open(&path).unwrap();
    let e = Journal::open(&path).unwrap_err();
    assert!(matches!(e, AuditError::Locked { .. }), "{e}");
    drop(j);
    Journal::open(&path).unwrap();
}

#[test]
fn threads_share_a_journal_through_a_mutex() {
    let dir = TempDir::new("audit-threads");
    let path = dir.path().join("audit.jsonl");
    let j = Arc::new(Mutex::new(Journal::open(&path).unwrap()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let j = Arc::clone(&j);
            std::thread::spawn(move || {
                for i in 0..25 {
                    j.lock().unwrap().append(&json!({"thread": t, "i": i})).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.entries, report.last_seq), (100, 100));
}

#[test]
fn an_empty_journal_verifies_and_a_missing_one_is_an_error() {
    let dir = TempDir::new("audit-empty");
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, "").unwrap();
    let report = verify(&path).unwrap();
    assert_eq!((report.entries, report.last_seq, report.last_hash.as_str(), report.is_ok()), (0, 0, GENESIS, true));
    let e = verify(dir.path().join("missing.jsonl")).unwrap_err();
    assert!(matches!(e, AuditError::Io { .. }), "{e}");
    assert!(e.to_string().starts_with("cannot read audit journal "), "{e}");
}
