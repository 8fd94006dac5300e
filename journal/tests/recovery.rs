//! Recovery: torn tails, bit flips in the last and in middle segments, damaged headers, gaps, zero-filled
//! tails, lazy verification, left-over temporary files.

mod common;

use std::fs;

use common::{damaged_files, file_len, fill, fixed, flip_byte, read_all, segments_of, set_len, wal_files, TempDir};
use common::{FIXED_LEN, RECORD_LEN};
use twinloom_journal::{segment_file_name, DamageReason, Error, Journal, Options, RECORD_HEADER_LEN};
use twinloom_journal::{SEGMENT_HEADER_LEN as HEADER, SEGMENT_HEADER_LEN};

/// Offset of record `position` in a segment starting at `first`.
fn record_offset(first: u64, position: u64) -> u64 {
    (HEADER + (position - first) as usize * RECORD_LEN) as u64
}

fn journal_with(dir: &TempDir, options: Options, records: u64) {
    let (mut journal, _) = Journal::open(dir.path(), options).unwrap();
    fill(&mut journal, records, 10);
    journal.close().unwrap();
}

#[test]
fn torn_tail_is_cut_at_the_last_good_record() {
    let dir = TempDir::new("torn");
    journal_with(&dir, Options::default(), 100);
    let seg = dir.path().join(segment_file_name(1));
    let full = file_len(&seg);
    set_len(&seg, full - 3); // record 100 loses its last 3 bytes
    let (mut journal, recovery) = Journal::open(dir.path(), Options::default()).unwrap();
    let damage = recovery.damage.clone().expect("damage reported");
    assert_eq!(damage.segment, seg);
    assert_eq!(damage.offset, record_offset(1, 100));
    assert_eq!(damage.position, 100);
    assert_eq!(damage.bytes_cut, (RECORD_LEN - 3) as u64);
    assert!(matches!(damage.reason, DamageReason::TornRecord { .. }));
    let preserved = damage.preserved.expect("cut bytes preserved");
    assert_eq!(file_len(&preserved), (RECORD_LEN - 3) as u64);
    assert_eq!(recovery.records, 99);
    assert_eq!(recovery.last_position, Some(99));
    assert_eq!(file_len(&seg), record_offset(1, 100));
    assert_eq!(journal.append(b"new 100").unwrap(), 100);
    journal.commit().unwrap();
    drop(journal);
    let (journal, recovery) = Journal::open(dir.path(), Options::default()).unwrap();
    assert!(recovery.is_clean());
    let all = read_all(&journal, 1);
    assert_eq!(all.len(), 100);
    assert_eq!(all[98].1, fixed(99));
    assert_eq!(all[99].1, b"new 100");
}

#[test]
fn torn_record_header_is_cut() {
    let dir = TempDir::new("torn-header");
    journal_with(&dir, Options::default(), 10);
    let seg = dir.path().join(segment_file_name(1));
    set_len(&seg, record_offset(1, 10) + 5);
    let (_journal, recovery) = Journal::open(dir.path(), Options::default()).unwrap();
    let damage = recovery.damage.unwrap();
    assert_eq!(damage.reason, DamageReason::TornRecord { needed: RECORD_HEADER_LEN as u64, available: 5 });
    assert_eq!(recovery.last_position, Some(9));
}

#[test]
fn bit_flip_in_last_segment_payload_is_detected_and_cut() {
    let dir = TempDir::new("flip-last");
    journal_with(&dir, Options::default(), 100);
    let seg = dir.path().join(segment_file_name(1));
    flip_byte(&seg, record_offset(1, 50) + RECORD_HEADER_LEN as u64 + 3);
    let (journal, recovery) = Journal::open(dir.path(), Options::default()).unwrap();
    let damage = recovery.damage.unwrap();
    assert!(matches!(damage.reason, DamageReason::ChecksumMismatch { .. }), "{:?}", damage.reason);
    assert_eq!(damage.offset, record_offset(1, 50));
    assert_eq!(damage.bytes_cut, 51 * RECORD_LEN as u64);
    assert_eq!(recovery.last_position, Some(49));
    assert_eq!(read_all(&journal, 1).len(), 49);
    assert_eq!(damaged_files(dir.path()).len(), 1);
}

#[test]
fn bit_flip_in_a_length_field_is_detected() {
    let dir = TempDir::new("flip-len");
    journal_with(&dir, Options::default(), 20);
    let seg = dir.path().join(segment_file_name(1));
    flip_byte(&seg, record_offset(1, 7) + 3); // top byte of the length: an impossible length
    let (_journal, recovery) = Journal::open(dir.path(), Options::default()).unwrap();
    let damage = recovery.damage.unwrap();
    assert_eq!(damage.offset, record_offset(1, 7));
    assert!(matches!(damage.reason, DamageReason::BadLength { .. } | DamageReason::TornRecord { .. }));
    assert_eq!(recovery.last_position, Some(6));
}

#[test]
fn bit_flip_in_a_middle_segment_ends_the_journal_there() {
    let dir = TempDir::new("flip-middle");
    journal_with(&dir, segments_of(10), 100);
    assert_eq!(wal_files(dir.path()).len(), 10);
    let third = dir.path().join(segment_file_name(21));
    flip_byte(&third, record_offset(21, 24) + RECORD_HEADER_LEN as u64);
    let (mut journal, recovery) = Journal::open(dir.path(), segments_of(10)).unwrap();
    let damage = recovery.damage.clone().unwrap();
    assert_eq!(damage.segment, third);
    assert_eq!(damage.offset, record_offset(21, 24));
    assert_eq!(damage.position, 24);
    assert_eq!(damage.bytes_cut, 7 * RECORD_LEN as u64);
    // Segments 31..91 are quarantined whole; the third segment is cut and becomes the active one.
    assert_eq!(recovery.quarantined.len(), 7);
    assert!(recovery.quarantined.iter().all(|p| p.exists() && p.parent().unwrap().ends_with("damaged")));
    assert_eq!(wal_files(dir.path()).len(), 3);
    assert_eq!((recovery.segments, recovery.records, recovery.last_position), (3, 23, Some(23)));
    assert_eq!(recovery.records_scanned, 23);
    // Appends continue after the damage, and nothing after it is ever served.
    assert_eq!(journal.append(b"continues").unwrap(), 24);
    journal.commit().unwrap();
    let all = read_all(&journal, 1);
    assert_eq!(all.len(), 24);
    assert!(all[..23].iter().all(|(p, payload)| payload == &fixed(*p)));
    drop(journal);
    let (_journal, recovery) = Journal::open(dir.path(), segments_of(10)).unwrap();
    assert!(recovery.is_clean());
    assert_eq!(recovery.last_position, Some(24));
}

#[test]
fn damaged_middle_header_quarantines_from_that_segment() {
    let dir = TempDir::new("bad-header");
    journal_with(&dir, segments_of(10), 50);
    let second = dir.path().join(segment_file_name(11));
    flip_byte(&second, 2); // magic
    let (mut journal, recovery) = Journal::open(dir.path(), segments_of(10)).unwrap();
    let damage = recovery.damage.clone().unwrap();
    assert_eq!(damage.reason, DamageReason::BadMagic);
    assert_eq!((damage.segment.clone(), damage.offset, damage.position), (second, 0, 11));
    assert_eq!(recovery.quarantined.len(), 4);
    assert_eq!(recovery.last_position, Some(10));
    assert_eq!(journal.append(b"x").unwrap(), 11);
}

#[test]
fn a_missing_middle_segment_is_a_gap() {
    let dir = TempDir::new("gap");
    journal_with(&dir, segments_of(10), 50);
    fs::remove_file(dir.path().join(segment_file_name(21))).unwrap();
    let (_journal, recovery) = Journal::open(dir.path(), segments_of(10)).unwrap();
    let damage = recovery.damage.unwrap();
    assert_eq!(damage.reason, DamageReason::PositionGap { expected: 21, found: 31 });
    assert_eq!(recovery.quarantined.len(), 2);
    assert_eq!(recovery.last_position, Some(20));
}

#[test]
fn zero_filled_tail_is_cut() {
    let dir = TempDir::new("zeros");
    journal_with(&dir, Options::default(), 30);
    let seg = dir.path().join(segment_file_name(1));
    let len = file_len(&seg);
    set_len(&seg, len + 4096); // what a crash can leave: the size grew, the data never landed
    let (journal, recovery) = Journal::open(dir.path(), Options::default()).unwrap();
    let damage = recovery.damage.unwrap();
    assert_eq!(damage.offset, len);
    assert_eq!(damage.bytes_cut, 4096);
    assert_eq!(recovery.last_position, Some(30));
    assert_eq!(read_all(&journal, 1).len(), 30);
}

#[test]
fn short_header_of_the_last_segment_is_quarantined_and_positions_continue() {
    let dir = TempDir::new("short-header");
    journal_with(&dir, segments_of(10), 20);
    // An empty last segment (position 21) whose header never fully landed.
    let stub = dir.path().join(segment_file_name(21));
    let header = fs::read(dir.path().join(segment_file_name(11))).unwrap();
    if stub.exists() {
        fs::remove_file(&stub).unwrap();
    }
    fs::write(&stub, &header[..10]).unwrap();
    let (mut journal, recovery) = Journal::open(dir.path(), segments_of(10)).unwrap();
    let damage = recovery.damage.unwrap();
    assert_eq!(damage.reason, DamageReason::ShortHeader { len: 10 });
    assert_eq!(recovery.last_position, Some(20));
    assert_eq!(journal.append(b"x").unwrap(), 21);
    journal.commit().unwrap();
}

#[test]
fn lazy_verification_reports_middle_damage_from_the_reader() {
    let dir = TempDir::new("lazy");
    journal_with(&dir, segments_of(10), 50);
    let second = dir.path().join(segment_file_name(11));
    flip_byte(&second, record_offset(11, 15) + RECORD_HEADER_LEN as u64 + (FIXED_LEN as u64 - 1));
    let options = Options { verify_all_on_open: false, ..segments_of(10) };
    let (journal, recovery) = Journal::open(dir.path(), options).unwrap();
    assert!(recovery.is_clean());
    assert_eq!(recovery.records_scanned, 10);
    assert_eq!(recovery.last_position, Some(50));
    let mut reader = journal.reader(1).unwrap();
    let mut good = 0;
    let err = loop {
        match reader.next().expect("the reader reports the damage before its end") {
            Ok(_) => good += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(good, 14);
    match err {
        Error::Corrupt { path, offset, position, reason } => {
            assert_eq!((path, offset, position), (second, record_offset(11, 15), 15));
            assert!(matches!(reason, DamageReason::ChecksumMismatch { .. }));
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(reader.next().is_none());
    // Reading past the damaged segment still works.
    assert_eq!(read_all(&journal, 21).len(), 30);
}

#[test]
fn leftover_temporary_segments_are_removed_and_foreign_files_kept() {
    let dir = TempDir::new("tmp");
    journal_with(&dir, Options::default(), 5);
    let tmp = dir.path().join(format!("{}.tmp", segment_file_name(6)));
    fs::write(&tmp, b"partial").unwrap();
    fs::write(dir.path().join("notes.txt"), b"operator notes").unwrap();
    let (_journal, recovery) = Journal::open(dir.path(), Options::default()).unwrap();
    assert!(recovery.is_clean());
    assert_eq!(recovery.temp_files_removed, 1);
    assert!(!tmp.exists());
    assert!(dir.path().join("notes.txt").exists());
    assert_eq!(recovery.last_position, Some(5));
}

#[test]
fn header_only_segment_is_an_empty_journal_at_its_position() {
    let dir = TempDir::new("header-only");
    let (journal, _) = Journal::open(dir.path(), Options::default()).unwrap();
    drop(journal);
    assert_eq!(file_len(&dir.path().join(segment_file_name(1))), SEGMENT_HEADER_LEN as u64);
    let (journal, recovery) = Journal::open(dir.path(), Options::default()).unwrap();
    assert!(recovery.is_clean());
    assert_eq!((recovery.records, recovery.last_position, journal.next_position()), (0, None, 1));
}

#[test]
fn a_segment_whose_name_disagrees_with_its_header_is_quarantined() {
    let dir = TempDir::new("name-mismatch");
    journal_with(&dir, segments_of(10), 15);
    fs::rename(dir.path().join(segment_file_name(11)), dir.path().join(segment_file_name(12))).unwrap();
    let (_journal, recovery) = Journal::open(dir.path(), segments_of(10)).unwrap();
    let damage = recovery.damage.unwrap();
    assert_eq!(damage.reason, DamageReason::NameMismatch { name: 12, header: 11 });
    assert_eq!(recovery.quarantined.len(), 1);
    assert_eq!(recovery.last_position, Some(10));
}
