//! Retention and rotation by age: only whole old segments are deleted, never the active one.

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::{fill, fixed, read_all, segments_of, wal_files, TempDir};
use twinloom_journal::{segment_file_name, Error, Journal, Options, Retention};

#[test]
fn truncate_before_deletes_whole_old_segments_only() {
    let dir = TempDir::new("truncate");
    let (mut journal, _) = Journal::open(dir.path(), segments_of(10)).unwrap();
    fill(&mut journal, 95, 10);
    assert_eq!(journal.segments().len(), 10);
    // Position 35 lives in the segment starting at 31: segments 1, 11 and 21 go, 31 stays whole.
    let removed = journal.truncate_before(35).unwrap();
    assert_eq!(removed.segments, 3);
    assert_eq!(journal.first_position(), 31);
    assert!(!dir.path().join(segment_file_name(21)).exists());
    assert!(dir.path().join(segment_file_name(31)).exists());
    assert_eq!(read_all(&journal, 31).len(), 65);
    assert!(matches!(journal.reader(30), Err(Error::PositionOutOfRange { first: 31, .. })));
    // A boundary position deletes the segment before it.
    assert_eq!(journal.truncate_before(41).unwrap().segments, 1);
    assert_eq!(journal.first_position(), 41);
    // Nothing more to delete below the first position.
    assert_eq!(journal.truncate_before(41).unwrap().segments, 0);
    // The active segment is never deleted.
    journal.truncate_before(u64::MAX).unwrap();
    assert_eq!(wal_files(dir.path()), vec![dir.path().join(segment_file_name(91))]);
    assert_eq!(journal.first_position(), 91);
    assert_eq!(read_all(&journal, 91).len(), 5);
    // Reopen agrees.
    drop(journal);
    let (mut journal, recovery) = Journal::open(dir.path(), segments_of(10)).unwrap();
    assert!(recovery.is_clean());
    assert_eq!((recovery.first_position, recovery.last_position), (91, Some(95)));
    assert_eq!(journal.append_batch([fixed(96)]).ok(), Some(96..97));
}

#[test]
fn retention_by_total_bytes() {
    let dir = TempDir::new("retention-bytes");
    let segment = segments_of(10).segment_bytes;
    let options =
        Options { retention: Retention { max_total_bytes: Some(3 * segment), max_age: None }, ..segments_of(10) };
    let (mut journal, _) = Journal::open(dir.path(), options).unwrap();
    fill(&mut journal, 55, 5);
    assert_eq!(journal.enforce_retention().unwrap().segments, 3);
    let usage = journal.disk_usage();
    assert!(usage.bytes <= 3 * segment, "{usage:?}");
    assert_eq!(usage.segments, 3);
    assert_eq!(usage.first_position, 31);
    assert_eq!(journal.enforce_retention().unwrap().segments, 0);
}

#[test]
fn retention_by_age() {
    let dir = TempDir::new("retention-age");
    let max_age = Duration::from_millis(150);
    let options = Options { retention: Retention { max_total_bytes: None, max_age: Some(max_age) }, ..segments_of(10) };
    let (mut journal, _) = Journal::open(dir.path(), options).unwrap();
    fill(&mut journal, 40, 10); // segments 1, 11, 21, 31: old
    sleep(Duration::from_millis(250));
    fill(&mut journal, 30, 10); // segments 41, 51, 61: new
                                // A segment's newest record is as old as the next segment's creation: 1, 11 and 21 are due, 31 is
                                // not (its successor was created just now).
    let removed = journal.enforce_retention().unwrap();
    assert_eq!(removed.segments, 3);
    assert_eq!(journal.first_position(), 31);
}

#[test]
fn segments_rotate_by_age() {
    let dir = TempDir::new("age-rotation");
    let options = Options { segment_max_age: Some(Duration::from_millis(60)), ..Options::default() };
    {
        let (mut journal, _) = Journal::open(dir.path(), options.clone()).unwrap();
        journal.append(b"a").unwrap();
        journal.append(b"b").unwrap();
        journal.commit().unwrap();
        assert_eq!(journal.segments().len(), 1);
        sleep(Duration::from_millis(100));
        assert_eq!(journal.append(b"c").unwrap(), 3);
        journal.commit().unwrap();
        assert_eq!(journal.segments().len(), 2);
        assert_eq!(journal.segments()[1].first_position, 3);
        assert_eq!(journal.io_counters().rotations, 1);
    }
    // The age comes from the segment header, so it survives a reopen.
    sleep(Duration::from_millis(100));
    let (mut journal, _) = Journal::open(dir.path(), options).unwrap();
    journal.append(b"d").unwrap();
    journal.commit().unwrap();
    assert_eq!(journal.segments().len(), 3);
    let all: Vec<Vec<u8>> = read_all(&journal, 1).into_iter().map(|r| r.1).collect();
    assert_eq!(all, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
}

#[test]
fn an_empty_segment_does_not_rotate_by_age() {
    let dir = TempDir::new("age-empty");
    let options = Options { segment_max_age: Some(Duration::from_millis(20)), ..Options::default() };
    let (mut journal, _) = Journal::open(dir.path(), options).unwrap();
    sleep(Duration::from_millis(40));
    journal.append(b"first").unwrap();
    journal.commit().unwrap();
    assert_eq!(journal.segments().len(), 1);
}
