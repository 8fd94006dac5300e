//! The journal itself: open with recovery, appends with group commit, rotation by size and age, retention,
//! and disk-usage figures.
//!
//! Write path: `append` encodes the record into an in-memory staging buffer; the buffer reaches the file
//! in one `write` at `commit`/`append_batch` (or at once under [`Durability::PerSample`], or when it
//! outgrows `Options::write_buffer_bytes`). The journal remembers the byte length of the active segment
//! that is known written (`good_len`). A failed write drops every unwritten record, cuts the file back to
//! `good_len` (retried before the next write if the cut itself fails), so later appends never build on a
//! partial record.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{DamageReason, Error, Result};
use crate::format::{
    encode_record, parse_segment_file_name, segment_file_name, ScanFail, SegmentHeader, SegmentScanner,
    RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::options::{Durability, Options};
use crate::reader::{Reader, ReaderSegment};

/// Name of the lock file in the journal directory (held with an exclusive OS file lock while open).
pub const LOCK_FILE_NAME: &str = "LOCK";
/// Sub-directory that receives quarantined segments and the bytes cut from damaged ones.
pub const DAMAGED_DIR_NAME: &str = "damaged";

/// One segment file of the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub path: PathBuf,
    /// Position of the segment's first record (also in its file name).
    pub first_position: u64,
    /// Bytes of the file that hold the journal (header + written records).
    pub bytes: u64,
    /// Creation time from the segment header (Unix milliseconds).
    pub created_unix_ms: u64,
}

/// What `Journal::open` found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segment files found in the directory.
    pub segments_found: usize,
    /// Segments in use after recovery (including a fresh one created by the open).
    pub segments: usize,
    /// Records whose checksum was verified by the open's scan.
    pub records_scanned: u64,
    /// Records the journal holds after recovery (`next_position - first_position`).
    pub records: u64,
    /// Position of the oldest record kept (or of the next record when the journal is empty).
    pub first_position: u64,
    /// Position of the newest record kept, `None` when the journal is empty.
    pub last_position: Option<u64>,
    /// The first damage found; recovery stops there (see the crate docs for the rule).
    pub damage: Option<Damage>,
    /// Segment files moved into `damaged/` because they lie after the damage (new paths).
    pub quarantined: Vec<PathBuf>,
    /// Left-over `*.wal.tmp` files of an interrupted segment creation, deleted.
    pub temp_files_removed: usize,
}

impl Recovery {
    /// True when the open found no damage.
    pub fn is_clean(&self) -> bool {
        self.damage.is_none()
    }
}

/// Damage found at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The damaged segment (its original path).
    pub segment: PathBuf,
    /// Byte offset of the first damaged byte in the segment (0: the segment as a whole).
    pub offset: u64,
    /// The first position not recovered.
    pub position: u64,
    pub reason: DamageReason,
    /// Bytes cut from the end of the segment (0 when the segment was quarantined whole).
    pub bytes_cut: u64,
    /// Where the cut bytes were preserved (in `damaged/`), if any were cut.
    pub preserved: Option<PathBuf>,
}

/// Disk usage and extent of the journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskUsage {
    pub segments: usize,
    /// Bytes of all segment files (headers and written records; staged records not included).
    pub bytes: u64,
    pub first_position: u64,
    /// Next position to be assigned.
    pub next_position: u64,
    /// Records held, written or staged (`next_position - first_position`).
    pub records: u64,
    /// Encoded bytes staged in memory, not yet written.
    pub staged_bytes: u64,
}

/// Counters of the I/O the journal did since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// `write` calls that stored staged records.
    pub writes: u64,
    pub bytes_written: u64,
    /// fdatasync calls on segments.
    pub syncs: u64,
    /// Segment rotations.
    pub rotations: u64,
    /// Writes that failed (each dropped the unwritten records).
    pub write_failures: u64,
}

/// What a retention pass or `truncate_before` deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub segments: usize,
    pub bytes: u64,
}

struct Active {
    info: SegmentInfo,
    file: File,
    rotate_at: Option<Instant>,
}

/// A segmented, checksummed, append-only write-ahead journal in one directory. See the crate docs.
pub struct Journal {
    dir: PathBuf,
    options: Options,
    _lock: File,
    sealed: Vec<SegmentInfo>,
    active: Active,
    staged: Vec<u8>,
    next_position: u64,
    written_next: u64,
    synced_next: u64,
    needs_cut: bool,
    poisoned: Option<String>,
    counters: IoCounters,
}

fn io_err(op: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io { op, path: path.to_path_buf(), source }
}

fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn rotate_deadline(created_unix_ms: u64, max_age: Option<Duration>) -> Option<Instant> {
    let max_age = max_age?;
    let age = Duration::from_millis(now_unix_ms().saturating_sub(created_unix_ms));
    let now = Instant::now();
    Some(now.checked_add(max_age.saturating_sub(age)).unwrap_or(now))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| io_err("open directory", dir, e))?;
    d.sync_all().map_err(|e| io_err("sync directory", dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_err("open lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(fs::TryLockError::Error(e)) => Err(io_err("lock", &path, e)),
    }
}

/// Segment files (first position from the name, path) sorted by position; deletes `*.wal.tmp` leftovers.
fn list_segments(dir: &Path, recovery: &mut Recovery) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err("list", dir, e))? {
        let entry = entry.map_err(|e| io_err("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if name.strip_suffix(".tmp").and_then(parse_segment_file_name).is_some() {
            fs::remove_file(&path).map_err(|e| io_err("remove temporary segment", &path, e))?;
            recovery.temp_files_removed += 1;
        } else if let Some(first) = parse_segment_file_name(name) {
            if path.is_file() {
                found.push((first, path));
            }
        }
    }
    found.sort_unstable_by_key(|(first, _)| *first);
    Ok(found)
}

fn damaged_dir(dir: &Path) -> Result<PathBuf> {
    let d = dir.join(DAMAGED_DIR_NAME);
    fs::create_dir_all(&d).map_err(|e| io_err("create directory", &d, e))?;
    Ok(d)
}

/// A fresh path in `damaged/` for `name` with `suffix`.
fn damaged_path(dir: &Path, name: &str, suffix: &str) -> Result<PathBuf> {
    let d = damaged_dir(dir)?;
    let stamp = now_unix_ms();
    let mut n = 0u32;
    loop {
        let candidate =
            d.join(format!("{name}{suffix}.{stamp}{}", if n == 0 { String::new() } else { format!("-{n}") }));
        if !candidate.exists() {
            return Ok(candidate);
        }
        n += 1;
    }
}

fn file_name_of(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Moves a whole segment into `damaged/`; returns its new path.
fn quarantine(dir: &Path, path: &Path) -> Result<PathBuf> {
    let dest = damaged_path(dir, &file_name_of(path), "")?;
    fs::rename(path, &dest).map_err(|e| io_err("quarantine", path, e))?;
    Ok(dest)
}

/// Copies the bytes of `path` from `offset` on into `damaged/`, then truncates `path` to `offset` and
/// syncs it. Returns the copy's path.
fn cut_segment(dir: &Path, path: &Path, offset: u64) -> Result<PathBuf> {
    let dest = damaged_path(dir, &file_name_of(path), &format!(".cut-at-{offset}"))?;
    let mut src = OpenOptions::new().read(true).write(true).open(path).map_err(|e| io_err("open", path, e))?;
    src.seek(SeekFrom::Start(offset)).map_err(|e| io_err("seek", path, e))?;
    let mut out = File::create(&dest).map_err(|e| io_err("create", &dest, e))?;
    io::copy(&mut src, &mut out).map_err(|e| io_err("preserve cut bytes", &dest, e))?;
    out.sync_all().map_err(|e| io_err("sync", &dest, e))?;
    src.set_len(offset).map_err(|e| io_err("truncate", path, e))?;
    src.sync_all().map_err(|e| io_err("sync", path, e))?;
    Ok(dest)
}

/// The damage a scan stopped at, or the I/O error that stopped it.
fn damage_of(fail: ScanFail) -> Result<(u64, DamageReason)> {
    match fail {
        ScanFail::Io(e) => Err(e),
        ScanFail::Damage { offset, reason } => Ok((offset, reason)),
    }
}

/// Checks headers, then records, and repairs per the recovery rule. Returns the kept segments (the last
/// one possibly cut) and the next position.
fn recover(
    dir: &Path,
    options: &Options,
    listed: Vec<(u64, PathBuf)>,
    recovery: &mut Recovery,
) -> Result<(Vec<SegmentInfo>, u64)> {
    let mut kept: Vec<SegmentInfo> = Vec::with_capacity(listed.len());
    let mut doomed: Vec<PathBuf> = Vec::new();
    let mut fallback_next = 1u64;
    let mut damage: Option<Damage> = None;

    // Phase 1: every header (cheap). The first bad one ends the journal there.
    for (i, (name_position, path)) in listed.iter().enumerate() {
        match SegmentScanner::open(path, *name_position, None, 4096) {
            Ok(scanner) => {
                let header = scanner.header();
                kept.push(SegmentInfo {
                    path: path.clone(),
                    first_position: header.first_position,
                    bytes: scanner.limit(),
                    created_unix_ms: header.created_unix_ms,
                });
            }
            Err(fail) => {
                let (offset, reason) = damage_of(fail)?;
                let position = *name_position;
                if kept.is_empty() {
                    fallback_next = *name_position;
                }
                damage =
                    Some(Damage { segment: path.clone(), offset, position, reason, bytes_cut: 0, preserved: None });
                doomed.extend(listed[i..].iter().map(|(_, p)| p.clone()));
                break;
            }
        }
    }

    // Phase 2: records of every kept segment (or of the last one only), in order.
    let scan_from = if options.verify_all_on_open { 0 } else { kept.len().saturating_sub(1) };
    let mut expected: Option<u64> = None;
    let mut i = scan_from;
    while i < kept.len() {
        let seg = kept[i].clone();
        if let Some(expected) = expected {
            if seg.first_position != expected {
                damage = Some(Damage {
                    segment: seg.path.clone(),
                    offset: 0,
                    position: expected,
                    reason: DamageReason::PositionGap { expected, found: seg.first_position },
                    bytes_cut: 0,
                    preserved: None,
                });
                let later: Vec<PathBuf> = kept.drain(i..).map(|s| s.path).collect();
                doomed.splice(0..0, later);
                break;
            }
        }
        let mut scanner = match SegmentScanner::open(&seg.path, seg.first_position, None, options.read_buffer_bytes) {
            Ok(s) => s,
            Err(ScanFail::Io(e)) => return Err(e),
            // The header was fine a moment ago: someone changed the file under us.
            Err(ScanFail::Damage { reason, .. }) => {
                return Err(io_err("recheck header", &seg.path, io::Error::other(reason.to_string())))
            }
        };
        let outcome = loop {
            match scanner.next_record() {
                Ok(Some(_)) => recovery.records_scanned += 1,
                Ok(None) => break None,
                Err(fail) => break Some((damage_of(fail)?, scanner.next_position())),
            }
        };
        let end_position = scanner.next_position();
        drop(scanner);
        expected = Some(end_position);
        if let Some(((offset, reason), position)) = outcome {
            let preserved = cut_segment(dir, &seg.path, offset)?;
            kept[i].bytes = offset;
            damage = Some(Damage {
                segment: seg.path.clone(),
                offset,
                position,
                reason,
                bytes_cut: seg.bytes.saturating_sub(offset),
                preserved: Some(preserved),
            });
            let later: Vec<PathBuf> = kept.drain(i + 1..).map(|s| s.path).collect();
            doomed.splice(0..0, later);
            break;
        }
        i += 1;
    }

    for path in &doomed {
        recovery.quarantined.push(quarantine(dir, path)?);
    }
    if damage.is_some() {
        sync_dir(dir)?;
    }
    let next = match kept.last() {
        Some(last) => expected.unwrap_or(last.first_position),
        None => fallback_next,
    };
    // The journal keeps a gap-free prefix: the first position lost is always the next one.
    recovery.damage = damage.map(|d| Damage { position: next, ..d });
    Ok((kept, next))
}

/// Creates a segment through `<name>.tmp` + rename, so a `.wal` file always has a whole header.
fn create_segment(dir: &Path, first_position: u64, max_age: Option<Duration>, sync: bool) -> Result<Active> {
    let name = segment_file_name(first_position);
    let path = dir.join(&name);
    let tmp = dir.join(format!("{name}.tmp"));
    if path.exists() {
        return Err(io_err("create segment", &path, io::Error::from(io::ErrorKind::AlreadyExists)));
    }
    let created_unix_ms = now_unix_ms();
    let header = SegmentHeader { first_position, created_unix_ms }.encode();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| io_err("create segment", &tmp, e))?;
    let written = io::Write::write_all(&mut file, &header).and_then(|()| if sync { file.sync_data() } else { Ok(()) });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("write segment header", &tmp, e));
    }
    fs::rename(&tmp, &path).map_err(|e| io_err("rename segment", &tmp, e))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(Active {
        info: SegmentInfo { path, first_position, bytes: SEGMENT_HEADER_LEN as u64, created_unix_ms },
        file,
        rotate_at: rotate_deadline(created_unix_ms, max_age),
    })
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`, recovers it and locks the directory.
    ///
    /// Recovery never panics on damaged files: damage is cut or quarantined per the crate's recovery
    /// rule and reported in [`Recovery`]. Errors are real I/O failures, a held lock, or bad options.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<(Self, Recovery)> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| io_err("create directory", &dir, e))?;
        let lock = lock_dir(&dir)?;
        let mut recovery = Recovery::default();
        let listed = list_segments(&dir, &mut recovery)?;
        recovery.segments_found = listed.len();
        let (mut kept, next_position) = recover(&dir, &options, listed, &mut recovery)?;
        let sync = options.durability != Durability::Os;
        let mut counters = IoCounters::default();
        let active = match kept.pop() {
            Some(info) => {
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&info.path)
                    .map_err(|e| io_err("open segment", &info.path, e))?;
                file.seek(SeekFrom::Start(info.bytes)).map_err(|e| io_err("seek", &info.path, e))?;
                let rotate_at = rotate_deadline(info.created_unix_ms, options.segment_max_age);
                Active { info, file, rotate_at }
            }
            None => create_segment(&dir, next_position, options.segment_max_age, sync)?,
        };
        if sync {
            // Whatever an earlier run left in the page cache is forced down now, so every recovered
            // record counts as durable.
            for seg in &kept {
                let f = OpenOptions::new().write(true).open(&seg.path).map_err(|e| io_err("open", &seg.path, e))?;
                f.sync_data().map_err(|e| io_err("sync", &seg.path, e))?;
                counters.syncs += 1;
            }
            active.file.sync_data().map_err(|e| io_err("sync", &active.info.path, e))?;
            counters.syncs += 1;
        }
        let first_position = kept.first().map_or(active.info.first_position, |s| s.first_position);
        recovery.segments = kept.len() + 1;
        recovery.first_position = first_position;
        recovery.records = next_position - first_position;
        recovery.last_position = (next_position > first_position).then(|| next_position - 1);
        let journal = Self {
            dir,
            _lock: lock,
            sealed: kept,
            active,
            staged: Vec::with_capacity(options.write_buffer_bytes.min(1 << 20)),
            next_position,
            written_next: next_position,
            synced_next: if sync { next_position } else { first_position },
            needs_cut: false,
            poisoned: None,
            counters,
            options,
        };
        Ok((journal, recovery))
    }

    /// Appends one record and returns its position. Under [`Durability::PerSample`] the record is
    /// written and synced before this returns; otherwise it is staged until [`commit`](Self::commit).
    ///
    /// On error nothing of this record is stored; see [`Error::Write`] for what happens to staged records.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        self.check_usable()?;
        self.check_size(payload)?;
        let position = self.stage(payload)?;
        if self.options.durability == Durability::PerSample {
            self.write_staged()?;
            self.sync_written()?;
        } else if self.staged.len() >= self.options.write_buffer_bytes {
            self.write_staged()?;
        }
        Ok(position)
    }

    /// Appends every payload as one group: one write, and (unless [`Durability::Os`]) one fdatasync,
    /// before it returns. Returns the positions assigned (empty range for an empty batch). Records staged
    /// by earlier `append` calls are committed with it.
    ///
    /// On error (a payload too large, a failed write) every record not yet written is dropped, including
    /// the rest of the batch; [`written_position`](Self::written_position) tells what was stored.
    pub fn append_batch<I>(&mut self, payloads: I) -> Result<Range<u64>>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.check_usable()?;
        let start = self.next_position;
        for payload in payloads {
            let payload = payload.as_ref();
            if let Err(e) = self.check_size(payload) {
                self.drop_staged();
                return Err(e);
            }
            self.stage(payload)?;
            if self.staged.len() >= self.options.write_buffer_bytes {
                self.write_staged()?;
            }
        }
        let end = self.next_position;
        self.write_staged()?;
        if self.options.durability != Durability::Os {
            self.sync_written()?;
        }
        Ok(start..end)
    }

    /// Writes staged records (one write) and, under [`Durability::PerBatch`] (or `PerSample`), syncs
    /// them. Under [`Durability::Os`] it only writes. Call once per tick.
    pub fn commit(&mut self) -> Result<()> {
        self.check_usable()?;
        self.write_staged()?;
        if self.options.durability != Durability::Os {
            self.sync_written()?;
        }
        Ok(())
    }

    /// Writes staged records and syncs everything written, whatever the durability policy (e.g. at a
    /// clean shutdown under [`Durability::Os`]).
    pub fn sync(&mut self) -> Result<()> {
        self.check_usable()?;
        self.write_staged()?;
        if self.synced_next < self.active.info.first_position {
            // Sealed segments written without sync (Durability::Os) since the last sync.
            let synced_next = self.synced_next;
            let mut unsynced = Vec::new();
            for (i, seg) in self.sealed.iter().enumerate() {
                let next_first = self.sealed.get(i + 1).map_or(self.active.info.first_position, |s| s.first_position);
                if next_first > synced_next {
                    unsynced.push(seg.path.clone());
                }
            }
            for path in unsynced {
                let f = OpenOptions::new().write(true).open(&path).map_err(|e| io_err("open", &path, e))?;
                if let Err(source) = f.sync_data() {
                    return Err(self.poison(path, source));
                }
                self.counters.syncs += 1;
            }
        }
        self.sync_written()
    }

    /// Commits per the durability policy and closes the journal, reporting errors that `Drop` would
    /// swallow.
    pub fn close(mut self) -> Result<()> {
        self.commit()
    }

    /// A reader over the written records from position `from` to the last written record at this
    /// moment (records staged and not yet committed are not visible; later appends are not seen).
    /// `from` may be anything in `first_position()..=written_position()+1`.
    ///
    /// Segments deleted by retention while the reader runs make it fail with [`Error::Io`].
    pub fn reader(&self, from: u64) -> Result<Reader> {
        let first = self.first_position();
        let end = self.written_next;
        if from < first || from > end {
            return Err(Error::PositionOutOfRange { requested: from, first, next: end });
        }
        let all: Vec<&SegmentInfo> = self.sealed.iter().chain(std::iter::once(&self.active.info)).collect();
        let start = all.partition_point(|s| s.first_position <= from).saturating_sub(1);
        let segments = all[start..]
            .iter()
            .enumerate()
            .map(|(k, s)| ReaderSegment {
                path: s.path.clone(),
                first_position: s.first_position,
                end_position: all.get(start + k + 1).map_or(end, |n| n.first_position),
                bytes: s.bytes,
            })
            .collect();
        Ok(Reader::new(segments, from, end, self.options.read_buffer_bytes))
    }

    /// Deletes every whole segment all of whose records lie before `position` (the active segment is
    /// never deleted, so some records before `position` may remain).
    pub fn truncate_before(&mut self, position: u64) -> Result<Removed> {
        self.check_usable()?;
        let mut n = 0;
        while n < self.sealed.len() && self.next_first(n) <= position {
            n += 1;
        }
        self.remove_oldest(n)
    }

    /// Applies `Options::retention` (max total bytes, max age): deletes the oldest whole segments that
    /// are due. No I/O when nothing is due.
    pub fn enforce_retention(&mut self) -> Result<Removed> {
        self.check_usable()?;
        let retention = &self.options.retention;
        let now = now_unix_ms();
        let mut total = self.disk_usage().bytes;
        let mut n = 0;
        while n < self.sealed.len() {
            let newest_record_ms =
                self.sealed.get(n + 1).map_or(self.active.info.created_unix_ms, |s| s.created_unix_ms);
            let too_old = retention
                .max_age
                .is_some_and(|age| u128::from(now.saturating_sub(newest_record_ms)) >= age.as_millis());
            let too_big = retention.max_total_bytes.is_some_and(|max| total > max);
            if !(too_old || too_big) {
                break;
            }
            total -= self.sealed[n].bytes;
            n += 1;
        }
        self.remove_oldest(n)
    }

    /// Position of the oldest record held (or the next position when empty).
    pub fn first_position(&self) -> u64 {
        self.sealed.first().map_or(self.active.info.first_position, |s| s.first_position)
    }

    /// The position the next append gets.
    pub fn next_position(&self) -> u64 {
        self.next_position
    }

    /// The newest position assigned (staged or written), `None` when empty.
    pub fn last_position(&self) -> Option<u64> {
        (self.next_position > self.first_position()).then(|| self.next_position - 1)
    }

    /// The newest position handed to the OS (survives a process crash), `None` when none.
    pub fn written_position(&self) -> Option<u64> {
        (self.written_next > self.first_position()).then(|| self.written_next - 1)
    }

    /// The newest position known synced to stable storage, `None` when none.
    pub fn durable_position(&self) -> Option<u64> {
        (self.synced_next > self.first_position()).then(|| self.synced_next - 1)
    }

    /// Segment count, bytes on disk, extent.
    pub fn disk_usage(&self) -> DiskUsage {
        let first_position = self.first_position();
        DiskUsage {
            segments: self.sealed.len() + 1,
            bytes: self.sealed.iter().map(|s| s.bytes).sum::<u64>() + self.active.info.bytes,
            first_position,
            next_position: self.next_position,
            records: self.next_position - first_position,
            staged_bytes: self.staged.len() as u64,
        }
    }

    /// The segments, oldest first; the last is the active one.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.sealed.iter().chain(std::iter::once(&self.active.info)).cloned().collect()
    }

    /// I/O done since open.
    pub fn io_counters(&self) -> IoCounters {
        self.counters
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the journal runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    fn check_usable(&self) -> Result<()> {
        match &self.poisoned {
            Some(reason) => Err(Error::Poisoned { reason: reason.clone() }),
            None => Ok(()),
        }
    }

    fn check_size(&self, payload: &[u8]) -> Result<()> {
        if payload.len() > self.options.max_record_bytes {
            return Err(Error::RecordTooLarge { len: payload.len(), max: self.options.max_record_bytes });
        }
        Ok(())
    }

    /// First position of the segment after sealed segment `n`.
    fn next_first(&self, n: usize) -> u64 {
        self.sealed.get(n + 1).map_or(self.active.info.first_position, |s| s.first_position)
    }

    /// Encodes a record into the staging buffer (rotating first when due); returns its position.
    fn stage(&mut self, payload: &[u8]) -> Result<u64> {
        let record_len = (RECORD_HEADER_LEN + payload.len()) as u64;
        let segment_len = self.active.info.bytes + self.staged.len() as u64;
        if segment_len > SEGMENT_HEADER_LEN as u64
            && (segment_len + record_len > self.options.segment_bytes
                || self.active.rotate_at.is_some_and(|at| Instant::now() >= at))
        {
            self.rotate()?;
        }
        let position = self.next_position;
        encode_record(&mut self.staged, position, payload);
        self.next_position += 1;
        Ok(position)
    }

    /// Seals the active segment (written, and synced unless `Os`) and starts a new one.
    fn rotate(&mut self) -> Result<()> {
        self.write_staged()?;
        let sync = self.options.durability != Durability::Os;
        if sync {
            self.sync_written()?;
        }
        let fresh = create_segment(&self.dir, self.next_position, self.options.segment_max_age, sync)?;
        let old = std::mem::replace(&mut self.active, fresh);
        self.sealed.push(old.info);
        self.counters.rotations += 1;
        Ok(())
    }

    fn drop_staged(&mut self) {
        self.staged.clear();
        self.next_position = self.written_next;
    }

    /// Truncates the active segment back to its known-good length after a failed write.
    fn cut_back(&mut self) -> Result<()> {
        let len = self.active.info.bytes;
        let path = &self.active.info.path;
        self.active.file.set_len(len).map_err(|e| io_err("cut back after failed write", path, e))?;
        self.active.file.seek(SeekFrom::Start(len)).map_err(|e| io_err("seek", path, e))?;
        self.needs_cut = false;
        Ok(())
    }

    /// Writes the staging buffer in one write. On failure drops all staged records and cuts the file back.
    fn write_staged(&mut self) -> Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        if self.needs_cut {
            if let Err(e) = self.cut_back() {
                self.counters.write_failures += 1;
                self.drop_staged();
                return Err(e);
            }
        }
        let offset = self.active.info.bytes;
        match io::Write::write_all(&mut self.active.file, &self.staged) {
            Ok(()) => {
                self.active.info.bytes += self.staged.len() as u64;
                self.counters.writes += 1;
                self.counters.bytes_written += self.staged.len() as u64;
                self.staged.clear();
                self.written_next = self.next_position;
                Ok(())
            }
            Err(source) => {
                self.counters.write_failures += 1;
                let first_dropped = self.written_next;
                self.drop_staged();
                self.needs_cut = true;
                // Best effort now; retried before the next write if it fails.
                let _ = self.cut_back();
                Err(Error::Write { path: self.active.info.path.clone(), offset, first_dropped, source })
            }
        }
    }

    /// fdatasyncs the active segment if it holds written, unsynced records.
    fn sync_written(&mut self) -> Result<()> {
        if self.synced_next >= self.written_next {
            return Ok(());
        }
        if let Err(source) = self.active.file.sync_data() {
            return Err(self.poison(self.active.info.path.clone(), source));
        }
        self.counters.syncs += 1;
        self.synced_next = self.written_next;
        Ok(())
    }

    fn poison(&mut self, path: PathBuf, source: io::Error) -> Error {
        self.poisoned = Some(format!("sync of {} failed: {source}", path.display()));
        Error::Sync { path, source }
    }

    /// Deletes the `n` oldest sealed segments.
    fn remove_oldest(&mut self, n: usize) -> Result<Removed> {
        let mut removed = Removed::default();
        let mut result = Ok(());
        for seg in &self.sealed[..n] {
            match fs::remove_file(&seg.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    result = Err(io_err("delete segment", &seg.path, e));
                    break;
                }
            }
            removed.segments += 1;
            removed.bytes += seg.bytes;
        }
        self.sealed.drain(..removed.segments);
        if removed.segments > 0 && self.options.durability != Durability::Os {
            sync_dir(&self.dir)?;
        }
        result.map(|()| removed)
    }
}

impl Drop for Journal {
    /// Best effort: writes staged records and syncs per the policy. Use [`Journal::close`] to see errors.
    fn drop(&mut self) {
        if self.poisoned.is_none() {
            let _ = self.write_staged();
            if self.options.durability != Durability::Os {
                let _ = self.sync_written();
            }
        }
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("durability", &self.options.durability)
            .field("segments", &(self.sealed.len() + 1))
            .field("first_position", &self.first_position())
            .field("next_position", &self.next_position)
            .field("written_next", &self.written_next)
            .field("synced_next", &self.synced_next)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}
