//! Options: durability policy, segment rotation (size, age), retention, record and buffer limits.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::{MAX_RECORD_BYTES, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};

/// When appended records are forced to stable storage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every `append` writes and fdatasyncs before it returns; `append_batch` writes the whole batch
    /// once and fdatasyncs once before it returns. Nothing acknowledged is ever lost; slowest.
    PerSample,
    /// Group commit: appends are staged in memory; `commit` (or `append_batch`) writes them with one
    /// write and one fdatasync. Call `commit` once per tick. A crash loses at most the uncommitted tick.
    #[default]
    PerBatch,
    /// `commit` writes to the OS page cache and never fsyncs: survives a process crash, not a power
    /// loss or kernel crash. `Journal::sync` still forces everything down on request.
    Os,
}

/// Deletion of whole old segments. The active segment is never deleted. Enforced by
/// [`Journal::enforce_retention`](crate::Journal::enforce_retention), which the owner calls on its own
/// schedule (e.g. once per tick: it does no I/O unless something is due).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Delete the oldest segments while the journal's bytes on disk exceed this.
    pub max_total_bytes: Option<u64>,
    /// Delete segments whose newest record is older than this (a segment's newest record is taken to
    /// be as old as the next segment's creation).
    pub max_age: Option<Duration>,
}

/// How a journal is opened and run. Construct with struct-update syntax over `Options::default()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// When records reach stable storage. Default: [`Durability::PerBatch`].
    pub durability: Durability,
    /// Rotate to a new segment before a record would take the active segment past this many bytes.
    /// A record larger than this gets a segment of its own. Default 64 MiB.
    pub segment_bytes: u64,
    /// Rotate (at the next append) once the active segment is this old. Default: none.
    pub segment_max_age: Option<Duration>,
    /// Retention limits for `enforce_retention`. Default: keep everything.
    pub retention: Retention,
    /// Largest payload `append` accepts. Default 16 MiB (the format's own limit is 1 GiB).
    pub max_record_bytes: usize,
    /// Staged (uncommitted) bytes that trigger a write to the OS without a sync, so a long tick does
    /// not grow memory without bound. Default 4 MiB.
    pub write_buffer_bytes: usize,
    /// Read buffer of readers and of the recovery scan. Default 1 MiB.
    pub read_buffer_bytes: usize,
    /// Verify every record of every segment at open (true, the default) or only the last segment's
    /// (false: faster open of a large journal; damage in older segments then surfaces as
    /// [`Error::Corrupt`](crate::Error::Corrupt) from readers instead of being cut at open).
    pub verify_all_on_open: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            durability: Durability::PerBatch,
            segment_bytes: 64 * 1024 * 1024,
            segment_max_age: None,
            retention: Retention::default(),
            max_record_bytes: 16 * 1024 * 1024,
            write_buffer_bytes: 4 * 1024 * 1024,
            read_buffer_bytes: 1024 * 1024,
            verify_all_on_open: true,
        }
    }
}

impl Options {
    pub(crate) fn validate(&self) -> Result<()> {
        let min_segment = (SEGMENT_HEADER_LEN + RECORD_HEADER_LEN) as u64;
        if self.segment_bytes < min_segment {
            return Err(Error::InvalidOptions(format!(
                "segment_bytes {} is below the minimum of {min_segment}",
                self.segment_bytes
            )));
        }
        if self.max_record_bytes > MAX_RECORD_BYTES {
            return Err(Error::InvalidOptions(format!(
                "max_record_bytes {} exceeds the format's limit of {MAX_RECORD_BYTES}",
                self.max_record_bytes
            )));
        }
        if self.segment_max_age == Some(Duration::ZERO) {
            return Err(Error::InvalidOptions("segment_max_age must be above zero".into()));
        }
        Ok(())
    }
}
