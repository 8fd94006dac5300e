//! Shared test helpers: a self-deleting temporary directory, payload makers and file-level tampering.

#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use twinloom_journal::{Journal, Options, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};

/// A fresh directory under the system temp dir, deleted on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("twinloom-journal-test-{tag}-{}-{nanos}-{n}", std::process::id()));
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Fixed-size payload (16 bytes) so record offsets are easy to compute: record `k` (1-based, in a
/// segment starting at position `first`) sits at `SEGMENT_HEADER_LEN + (k - first) * RECORD_LEN`.
pub fn fixed(i: u64) -> Vec<u8> {
    format!("rec-{i:012}").into_bytes()
}

pub const FIXED_LEN: usize = 16;
pub const RECORD_LEN: usize = RECORD_HEADER_LEN + FIXED_LEN;

/// Options whose segments hold exactly `records_per_segment` fixed-size records.
pub fn segments_of(records_per_segment: usize) -> Options {
    Options { segment_bytes: (SEGMENT_HEADER_LEN + records_per_segment * RECORD_LEN) as u64, ..Options::default() }
}

/// Varied payload sizes, content derived from the position.
pub fn varied(i: u64) -> Vec<u8> {
    let mut v = format!("sample-{i}-").into_bytes();
    v.extend(std::iter::repeat_n((i % 251) as u8, (i % 37) as usize));
    v
}

/// Every record from `from`, panicking on errors.
pub fn read_all(journal: &Journal, from: u64) -> Vec<(u64, Vec<u8>)> {
    journal.reader(from).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
}

/// The `.wal` files in `dir`, sorted.
pub fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// Files in `dir/damaged`.
pub fn damaged_files(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir.join("damaged")) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// XORs one byte of a file.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut f = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= 0x40;
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&b).unwrap();
}

pub fn set_len(path: &Path, len: u64) {
    OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

/// Appends `records` fixed-size records (positions from the journal) committing every `tick` records.
pub fn fill(journal: &mut Journal, records: u64, tick: u64) {
    for _ in 0..records {
        let p = journal.next_position();
        assert_eq!(journal.append(&fixed(p)).unwrap(), p);
        if p.is_multiple_of(tick) {
            journal.commit().unwrap();
        }
    }
    journal.commit().unwrap();
}
