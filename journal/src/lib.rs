//! Twinloom's write-ahead journal (issue 16): segmented, checksummed, append-only records.
//!
//! A pure storage primitive: opaque byte payloads get consecutive `u64` positions (the first record of
//! a new journal is position 1) and are stored in segment files `<first position, 20 digits>.wal` in one
//! directory. Nothing here knows about samples, plants or USD.
//!
//! ```no_run
//! use twinloom_journal::{Journal, Options};
//! # fn main() -> Result<(), twinloom_journal::Error> {
//! let (mut journal, recovery) = Journal::open("/var/lib/twinloom/journal", Options::default())?;
//! if let Some(damage) = &recovery.damage {
//!     eprintln!("journal damage cut at {}:{}: {}", damage.segment.display(), damage.offset, damage.reason);
//! }
//! // Replay what survived, then append: one group commit per tick.
//! for record in journal.reader(journal.first_position())? {
//!     let (_position, _payload) = record?;
//! }
//! journal.append(b"sample 1")?;
//! journal.append(b"sample 2")?;
//! journal.commit()?; // one write + one fdatasync under Durability::PerBatch
//! # Ok(()) }
//! ```
//!
//! # Format
//!
//! Segment header (32 bytes): magic `TWLJRNL\0` \[0..8\], version u16 \[8..10\], reserved \[10..12\],
//! first position u64 \[12..20\], creation time (Unix ms) u64 \[20..28\], CRC32C of bytes 0..28 \[28..32\].
//! Record: payload length u32 \[0..4\], CRC32C u32 \[4..8\] over position u64 + length u32 + payload,
//! payload \[8..\]. Little-endian throughout. The position is implied by order and checked by the CRC.
//!
//! # Recovery rule
//!
//! The journal is always a gap-free prefix of what was appended. At open every segment header is
//! checked, then every record (or, with `verify_all_on_open = false`, the last segment's records). At the
//! first damage (torn or corrupt record, bad header, position gap between segments) the journal ends:
//! the damaged segment is truncated at its last good record (the cut bytes are copied to `damaged/`
//! first), every later segment is moved whole into `damaged/` and never served, and appends continue at
//! the first position lost. A damaged header quarantines that whole segment. All of it is reported in
//! [`Recovery`]; nothing panics.
//!
//! # Failures while running
//!
//! A failed write (disk full, file-size limit) returns [`Error::Write`]: all unwritten records are
//! dropped, their positions are reused, and the segment is cut back to its last good byte before anything
//! else is written. A failed fsync poisons the journal ([`Error::Sync`], then [`Error::Poisoned`]): reopen.

mod error;
mod format;
mod journal;
mod options;
mod reader;

pub use error::{DamageReason, Error, Result};
pub use format::{
    parse_segment_file_name, segment_file_name, FORMAT_VERSION, MAX_RECORD_BYTES, RECORD_HEADER_LEN, SEGMENT_EXTENSION,
    SEGMENT_HEADER_LEN, SEGMENT_MAGIC,
};
pub use journal::{
    Damage, DiskUsage, IoCounters, Journal, Recovery, Removed, SegmentInfo, DAMAGED_DIR_NAME, LOCK_FILE_NAME,
};
pub use options::{Durability, Options, Retention};
pub use reader::Reader;
