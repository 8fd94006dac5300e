//! Round trips: rotation across segments, reopening, readers from any position, batches, limits, locking.

mod common;

use common::{fill, fixed, read_all, segments_of, varied, wal_files, TempDir, RECORD_LEN};
use twinloom_journal::{parse_segment_file_name, Durability, Error, Journal, Options, SEGMENT_HEADER_LEN};

#[test]
fn round_trip_across_rotated_segments() {
    let dir = TempDir::new("roundtrip");
    let options = Options { segment_bytes: 1024, ..Options::default() };
    let (mut journal, recovery) = Journal::open(dir.path(), options).unwrap();
    assert!(recovery.is_clean());
    assert_eq!((recovery.segments_found, recovery.records, recovery.last_position), (0, 0, None));
    assert_eq!(journal.next_position(), 1);
    for tick in 0..10u64 {
        let range = journal.append_batch((0..50).map(|k| varied(tick * 50 + k + 1))).unwrap();
        assert_eq!(range, tick * 50 + 1..tick * 50 + 51);
    }
    let files = wal_files(dir.path());
    assert!(files.len() > 5, "expected several segments, got {}", files.len());
    let segments = journal.segments();
    assert_eq!(segments.len(), files.len());
    for (seg, file) in segments.iter().zip(&files) {
        assert_eq!(&seg.path, file);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_segment_file_name(name), Some(seg.first_position));
        assert!(common::file_len(file) <= 1024);
        assert_eq!(common::file_len(file), seg.bytes);
    }
    let all = read_all(&journal, 1);
    assert_eq!(all.len(), 500);
    for (i, (position, payload)) in all.iter().enumerate() {
        assert_eq!(*position, i as u64 + 1);
        assert_eq!(payload, &varied(*position));
    }
    // From the middle of a segment, from a segment boundary, from the end.
    let tail = read_all(&journal, 237);
    assert_eq!(tail.first().map(|r| r.0), Some(237));
    assert_eq!(tail.len(), 264);
    let boundary = segments[3].first_position;
    assert_eq!(read_all(&journal, boundary).first().map(|r| r.0), Some(boundary));
    assert!(read_all(&journal, 501).is_empty());
    assert!(matches!(journal.reader(502), Err(Error::PositionOutOfRange { requested: 502, first: 1, next: 501 })));
    assert!(matches!(journal.reader(0), Err(Error::PositionOutOfRange { .. })));
    // Borrowing reader.
    let mut reader = journal.reader(499).unwrap();
    assert_eq!(reader.end_position(), 501);
    let (p, payload) = reader.next_record().unwrap().unwrap();
    assert_eq!((p, payload), (499, &varied(499)[..]));
    assert_eq!(reader.position(), 500);
}

#[test]
fn reopen_continues_positions() {
    let dir = TempDir::new("reopen");
    {
        let (mut journal, _) = Journal::open(dir.path(), segments_of(8)).unwrap();
        fill(&mut journal, 100, 10);
        journal.close().unwrap();
    }
    let (mut journal, recovery) = Journal::open(dir.path(), segments_of(8)).unwrap();
    assert!(recovery.is_clean(), "{recovery:?}");
    assert_eq!(recovery.segments_found, 13);
    assert_eq!(recovery.segments, 13);
    assert_eq!(recovery.records, 100);
    assert_eq!(recovery.records_scanned, 100);
    assert_eq!(recovery.first_position, 1);
    assert_eq!(recovery.last_position, Some(100));
    assert_eq!(journal.append(&fixed(101)).unwrap(), 101);
    journal.commit().unwrap();
    drop(journal);
    let (journal, recovery) = Journal::open(dir.path(), segments_of(8)).unwrap();
    assert_eq!(recovery.last_position, Some(101));
    let all = read_all(&journal, 1);
    assert_eq!(all.len(), 101);
    assert!(all.iter().all(|(p, payload)| payload == &fixed(*p)));
}

#[test]
fn staged_records_are_invisible_until_commit_and_drop_commits() {
    let dir = TempDir::new("staged");
    {
        let (mut journal, _) = Journal::open(dir.path(), Options::default()).unwrap();
        journal.append(b"one").unwrap();
        journal.append(b"two").unwrap();
        assert_eq!(journal.last_position(), Some(2));
        assert_eq!(journal.written_position(), None);
        assert!(read_all(&journal, 1).is_empty());
        journal.commit().unwrap();
        assert_eq!(journal.written_position(), Some(2));
        assert_eq!(read_all(&journal, 1).len(), 2);
        journal.append(b"three").unwrap();
        // Dropped without commit: Drop writes and syncs the staged record.
    }
    let (journal, recovery) = Journal::open(dir.path(), Options::default()).unwrap();
    assert_eq!(recovery.last_position, Some(3));
    assert_eq!(read_all(&journal, 3), vec![(3, b"three".to_vec())]);
}

#[test]
fn empty_and_oversized_records() {
    let dir = TempDir::new("sizes");
    let options = Options { max_record_bytes: 1000, segment_bytes: 256, ..Options::default() };
    let (mut journal, _) = Journal::open(dir.path(), options).unwrap();
    assert_eq!(journal.append(b"").unwrap(), 1);
    assert!(matches!(journal.append(&[0u8; 1001]), Err(Error::RecordTooLarge { len: 1001, max: 1000 })));
    // A record larger than a segment gets a segment of its own.
    assert_eq!(journal.append(&[7u8; 1000]).unwrap(), 2);
    assert_eq!(journal.append(b"after").unwrap(), 3);
    journal.commit().unwrap();
    assert_eq!(journal.segments().len(), 3);
    let all = read_all(&journal, 1);
    assert_eq!(all, vec![(1, vec![]), (2, vec![7u8; 1000]), (3, b"after".to_vec())]);
    // An oversized record in a batch drops the whole unwritten batch.
    journal.append(b"staged").unwrap();
    let err = journal.append_batch([&b"ok"[..], &[0u8; 2000][..]]).unwrap_err();
    assert!(matches!(err, Error::RecordTooLarge { .. }));
    assert_eq!(journal.next_position(), 4);
    assert_eq!(journal.append_batch([b"x"]).unwrap(), 4..5);
}

#[test]
fn a_directory_is_opened_once() {
    let dir = TempDir::new("lock");
    let (journal, _) = Journal::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(Journal::open(dir.path(), Options::default()), Err(Error::Locked { .. })));
    drop(journal);
    assert!(Journal::open(dir.path(), Options::default()).is_ok());
}

#[test]
fn invalid_options_are_refused() {
    let dir = TempDir::new("options");
    let tiny = Options { segment_bytes: 10, ..Options::default() };
    assert!(matches!(Journal::open(dir.path(), tiny), Err(Error::InvalidOptions(_))));
    let huge = Options { max_record_bytes: usize::MAX, ..Options::default() };
    assert!(matches!(Journal::open(dir.path(), huge), Err(Error::InvalidOptions(_))));
}

#[test]
fn segment_sizes_and_disk_usage_agree_with_the_file_system() {
    let dir = TempDir::new("usage");
    let (mut journal, _) =
        Journal::open(dir.path(), Options { durability: Durability::Os, ..segments_of(10) }).unwrap();
    fill(&mut journal, 35, 7);
    let usage = journal.disk_usage();
    assert_eq!(usage.segments, 4);
    assert_eq!(usage.records, 35);
    assert_eq!((usage.first_position, usage.next_position), (1, 36));
    let on_disk: u64 = wal_files(dir.path()).iter().map(|p| common::file_len(p)).sum();
    assert_eq!(usage.bytes, on_disk);
    assert_eq!(on_disk, (4 * SEGMENT_HEADER_LEN + 35 * RECORD_LEN) as u64);
    journal.append(b"staged").unwrap();
    assert_eq!(journal.disk_usage().staged_bytes, 14);
}

#[test]
fn a_reader_is_a_snapshot() {
    let dir = TempDir::new("snapshot");
    let (mut journal, _) = Journal::open(dir.path(), segments_of(4)).unwrap();
    fill(&mut journal, 10, 3);
    let mut reader = journal.reader(1).unwrap();
    assert_eq!(reader.next().unwrap().unwrap().0, 1);
    fill(&mut journal, 10, 3);
    assert_eq!(reader.count(), 9);
    assert_eq!(read_all(&journal, 1).len(), 20);
}
