//! Durability policies: what each one writes and syncs, and that every policy's records survive a reopen.

mod common;

use common::{read_all, segments_of, TempDir};
use twinloom_journal::{Durability, Journal, Options};

fn open(dir: &TempDir, durability: Durability) -> Journal {
    Journal::open(dir.path(), Options { durability, ..Options::default() }).unwrap().0
}

#[test]
fn every_policy_round_trips() {
    for durability in [Durability::PerSample, Durability::PerBatch, Durability::Os] {
        let dir = TempDir::new("policies");
        let mut journal = open(&dir, durability);
        for i in 0..20u32 {
            journal.append(&i.to_le_bytes()).unwrap();
        }
        journal.commit().unwrap();
        journal.append_batch((20..30u32).map(|i| i.to_le_bytes())).unwrap();
        journal.close().unwrap();
        let journal = open(&dir, durability);
        let all = read_all(&journal, 1);
        assert_eq!(all.len(), 30, "{durability:?}");
        assert!(all.iter().all(|(p, payload)| payload[..] == ((*p - 1) as u32).to_le_bytes()), "{durability:?}");
    }
}

#[test]
fn per_sample_syncs_every_append() {
    let dir = TempDir::new("per-sample");
    let mut journal = open(&dir, Durability::PerSample);
    let before = journal.io_counters();
    for i in 0..5u8 {
        let p = journal.append(&[i]).unwrap();
        assert_eq!(journal.durable_position(), Some(p));
    }
    let after = journal.io_counters();
    assert_eq!(after.syncs - before.syncs, 5);
    assert_eq!(after.writes - before.writes, 5);
    // A batch is one write and one sync.
    journal.append_batch([[1u8], [2u8], [3u8]]).unwrap();
    let batch = journal.io_counters();
    assert_eq!((batch.writes - after.writes, batch.syncs - after.syncs), (1, 1));
    assert_eq!(journal.durable_position(), Some(8));
}

#[test]
fn per_batch_syncs_once_per_commit() {
    let dir = TempDir::new("per-batch");
    let mut journal = open(&dir, Durability::PerBatch);
    let before = journal.io_counters();
    for i in 0..100u8 {
        journal.append(&[i]).unwrap();
    }
    assert_eq!(journal.io_counters(), before, "appends only stage");
    assert_eq!(journal.durable_position(), None);
    journal.commit().unwrap();
    let after = journal.io_counters();
    assert_eq!((after.writes - before.writes, after.syncs - before.syncs), (1, 1));
    assert_eq!(journal.durable_position(), Some(100));
    // An empty commit does nothing.
    journal.commit().unwrap();
    assert_eq!(journal.io_counters(), after);
}

#[test]
fn os_never_syncs_unless_asked() {
    let dir = TempDir::new("os");
    let mut journal = Journal::open(dir.path(), Options { durability: Durability::Os, ..segments_of(10) }).unwrap().0;
    assert_eq!(journal.io_counters().syncs, 0);
    for i in 0..35u8 {
        journal.append(&[i; 16]).unwrap();
    }
    journal.commit().unwrap();
    assert_eq!(journal.io_counters().syncs, 0);
    assert_eq!(journal.io_counters().rotations, 3);
    assert_eq!(journal.written_position(), Some(35));
    assert_eq!(journal.durable_position(), None);
    // sync() forces down the three sealed segments and the active one.
    journal.sync().unwrap();
    assert_eq!(journal.io_counters().syncs, 4);
    assert_eq!(journal.durable_position(), Some(35));
}

#[test]
fn a_full_write_buffer_is_written_without_sync() {
    let dir = TempDir::new("write-buffer");
    let options = Options { write_buffer_bytes: 100, ..Options::default() };
    let mut journal = Journal::open(dir.path(), options).unwrap().0;
    let syncs = journal.io_counters().syncs;
    for _ in 0..10 {
        journal.append(&[0u8; 24]).unwrap(); // 32 bytes encoded: the 4th append fills the buffer
    }
    assert_eq!(journal.written_position(), Some(8));
    assert_eq!(journal.io_counters().syncs, syncs);
    assert_eq!(read_all(&journal, 1).len(), 8);
    journal.commit().unwrap();
    assert_eq!(journal.durable_position(), Some(10));
}
