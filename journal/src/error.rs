//! Errors: what failed and where (file, byte offset, position), and the reasons a segment counts as damaged.

use std::io;
use std::path::PathBuf;

/// Everything the journal can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed (open, read, list, rename, delete, ...).
    #[error("journal: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing records to the active segment failed (disk full, file-size limit, I/O error). The segment
    /// was cut back to `offset` (or will be before the next write); every record after
    /// [`Journal::written_position`](crate::Journal::written_position) was dropped and its position will
    /// be assigned again. The journal stays usable.
    #[error(
        "journal: write to {path} at byte {offset} failed, records from position {first_dropped} dropped: {source}"
    )]
    Write {
        path: PathBuf,
        offset: u64,
        first_dropped: u64,
        #[source]
        source: io::Error,
    },
    /// fsync/fdatasync failed. After a failed sync the kernel may have dropped the dirty pages, so a retry
    /// proves nothing: the journal is poisoned and must be reopened (recovery re-reads what is on disk).
    #[error("journal: sync of {path} failed, journal poisoned: {source}")]
    Sync {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An earlier sync failed; reopen the journal.
    #[error("journal poisoned by an earlier failure ({reason}); reopen it")]
    Poisoned { reason: String },
    /// A reader met damaged bytes (found after open, or in a segment not verified at open).
    #[error("journal: damaged record in {path} at byte {offset} (position {position}): {reason}")]
    Corrupt { path: PathBuf, offset: u64, position: u64, reason: DamageReason },
    /// Another `Journal` (in this or another process) holds the directory's lock.
    #[error("journal: {path} is locked by another journal instance")]
    Locked { path: PathBuf },
    /// The payload is larger than `Options::max_record_bytes`.
    #[error("journal: record of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge { len: usize, max: usize },
    /// A reader was asked to start outside `first..=next`.
    #[error("journal: position {requested} is outside the journal (first {first}, next {next})")]
    PositionOutOfRange { requested: u64, first: u64, next: u64 },
    /// The options make no sense (e.g. a segment smaller than its header).
    #[error("journal: invalid options: {0}")]
    InvalidOptions(String),
}

/// Convenience alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why bytes of a segment were judged damaged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DamageReason {
    /// The file is shorter than a segment header.
    #[error("file of {len} bytes is shorter than a segment header")]
    ShortHeader { len: u64 },
    /// The segment header does not start with the magic bytes.
    #[error("bad segment magic")]
    BadMagic,
    /// The segment header's checksum does not match.
    #[error("segment header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    HeaderChecksum { stored: u32, computed: u32 },
    /// The segment was written by an unknown format version.
    #[error("unsupported segment format version {version}")]
    UnsupportedVersion { version: u16 },
    /// The header's first position differs from the one in the file name.
    #[error("file name says first position {name}, header says {header}")]
    NameMismatch { name: u64, header: u64 },
    /// The segment does not start where the previous segment's records end.
    #[error("segment starts at position {found}, expected {expected}")]
    PositionGap { expected: u64, found: u64 },
    /// A record header or payload runs past the end of the file: a torn (interrupted) write.
    #[error("torn record: needs {needed} bytes, {available} left in the file")]
    TornRecord { needed: u64, available: u64 },
    /// A length field larger than the format allows.
    #[error("impossible record length {len}")]
    BadLength { len: u32 },
    /// The record's CRC32C does not match its position, length and payload.
    #[error("record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    ChecksumMismatch { stored: u32, computed: u32 },
    /// A segment ends before the next segment's first position: records are missing.
    #[error("segment ends at position {ends_at}, the next segment starts at {next_starts_at}")]
    MissingRecords { ends_at: u64, next_starts_at: u64 },
}
