//! Write failures (disk full, file-size limit): the append fails with a typed error naming the file and
//! offset, the segment is cut back to its last good record, and the journal carries on.
//!
//! Tests often run as root, where a read-only directory does not stop writes, so the failure comes from
//! a real kernel limit instead: the test re-runs itself in a child process with `RLIMIT_FSIZE` lowered
//! (and `SIGXFSZ` ignored), so `write` fails with `EFBIG` part-way through a record, as on a full disk.

#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{file_len, read_all, TempDir};
use twinloom_journal::{segment_file_name, Error, Journal, Options};

const CHILD_ENV: &str = "TWINLOOM_JOURNAL_FSIZE_CHILD_DIR";
const TEST_NAME: &str = "write_failure_is_cut_back_and_the_journal_carries_on";
const LIMIT: u64 = 64 * 1024;

fn set_file_size_limit(bytes: Option<u64>) {
    // SAFETY: plain libc calls on a local struct; only this child process is affected.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
        lim.rlim_cur = bytes.map_or(lim.rlim_max, |b| b as libc::rlim_t);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

fn child(dir: &Path) {
    let (mut journal, _) = Journal::open(dir, Options::default()).unwrap();
    let segment = dir.join(segment_file_name(1));
    set_file_size_limit(Some(LIMIT));
    let payload = [0xABu8; 1000];
    let mut last_ok = None;
    let error = loop {
        for _ in 0..10 {
            journal.append(&payload).unwrap();
        }
        match journal.commit() {
            Ok(()) => last_ok = journal.written_position(),
            Err(e) => break e,
        }
    };
    let last_ok = last_ok.expect("some ticks fit under the limit");
    match &error {
        Error::Write { path, offset, first_dropped, source } => {
            assert_eq!(path, &segment);
            assert_eq!(*first_dropped, last_ok + 1);
            assert_eq!(*offset, journal.disk_usage().bytes);
            assert_eq!(source.raw_os_error(), Some(libc::EFBIG), "{source}");
        }
        other => panic!("expected a write error, got {other}"),
    }
    // The partial record was cut: the file ends at the last good record.
    assert_eq!(file_len(&segment), journal.disk_usage().bytes);
    assert!(file_len(&segment) <= LIMIT);
    assert_eq!(journal.written_position(), Some(last_ok));
    assert_eq!(journal.next_position(), last_ok + 1);
    assert_eq!(journal.io_counters().write_failures, 1);
    // Still full: the next tick fails the same way and leaves the file as it was.
    let p = journal.append(&payload).unwrap();
    assert_eq!(p, last_ok + 1);
    assert!(matches!(journal.append_batch([payload; 70]), Err(Error::Write { .. })));
    assert_eq!(file_len(&segment), journal.disk_usage().bytes);
    assert_eq!(journal.next_position(), last_ok + 1);
    // Space again: appends continue at the first dropped position, on a clean tail.
    set_file_size_limit(None);
    assert_eq!(journal.append(b"after the disk was freed").unwrap(), last_ok + 1);
    journal.commit().unwrap();
    assert_eq!(read_all(&journal, 1).len() as u64, last_ok + 1);
    journal.close().unwrap();
    std::fs::write(dir.join("child-last-ok"), last_ok.to_string()).unwrap();
}

#[test]
fn write_failure_is_cut_back_and_the_journal_carries_on() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let dir = TempDir::new("write-failure");
    let exe = std::env::current_exe().unwrap();
    let status = Command::new(exe)
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "child failed: {status}");
    let last_ok: u64 = std::fs::read_to_string(dir.path().join("child-last-ok")).unwrap().parse().unwrap();
    let (journal, recovery) = Journal::open(dir.path(), Options::default()).unwrap();
    assert!(recovery.is_clean(), "{recovery:?}");
    assert_eq!(recovery.last_position, Some(last_ok + 1));
    let all = read_all(&journal, 1);
    assert!(all[..last_ok as usize].iter().all(|(_, payload)| payload[..] == [0xABu8; 1000]));
    assert_eq!(all[last_ok as usize].1, b"after the disk was freed");
}
