//! The on-disk format: segment file names, the 32-byte segment header, the 8-byte record header with its
//! CRC32C, and the sequential segment scanner that recovery and readers share.
//!
//! All integers are little-endian. A record's position is not stored: it is the segment's first position
//! plus the record's index in the segment, and it is covered by the record's checksum, so a record read
//! at the wrong place (a stale or misplaced block) fails its check.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{DamageReason, Error};

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TWLJRNL\0";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Bytes of a record header (length + CRC32C).
pub const RECORD_HEADER_LEN: usize = 8;
/// The largest payload the format accepts (a larger length field is damage, whatever the options say).
pub const MAX_RECORD_BYTES: usize = 1 << 30;
/// File-name extension of a segment.
pub const SEGMENT_EXTENSION: &str = "wal";

/// The segment file name for a segment whose first record has `first_position`: 20 zero-padded decimal
/// digits (so names sort like positions) and `.wal`.
pub fn segment_file_name(first_position: u64) -> String {
    format!("{first_position:020}.{SEGMENT_EXTENSION}")
}

/// The first position a segment file name carries, or `None` when `name` is not a segment name.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub first_position: u64,
    pub created_unix_ms: u64,
}

impl SegmentHeader {
    /// Layout: magic[0..8], version u16 [8..10], reserved u16 [10..12], first position u64 [12..20],
    /// created (Unix ms) u64 [20..28], CRC32C of bytes 0..28 [28..32].
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut h = [0u8; SEGMENT_HEADER_LEN];
        h[0..8].copy_from_slice(&SEGMENT_MAGIC);
        h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..20].copy_from_slice(&self.first_position.to_le_bytes());
        h[20..28].copy_from_slice(&self.created_unix_ms.to_le_bytes());
        let crc = crc32c::crc32c(&h[0..28]);
        h[28..32].copy_from_slice(&crc.to_le_bytes());
        h
    }

    pub fn decode(h: &[u8; SEGMENT_HEADER_LEN]) -> Result<Self, DamageReason> {
        if h[0..8] != SEGMENT_MAGIC {
            return Err(DamageReason::BadMagic);
        }
        let stored = u32::from_le_bytes([h[28], h[29], h[30], h[31]]);
        let computed = crc32c::crc32c(&h[0..28]);
        if stored != computed {
            return Err(DamageReason::HeaderChecksum { stored, computed });
        }
        let version = u16::from_le_bytes([h[8], h[9]]);
        if version != FORMAT_VERSION {
            return Err(DamageReason::UnsupportedVersion { version });
        }
        Ok(Self { first_position: read_u64(&h[12..20]), created_unix_ms: read_u64(&h[20..28]) })
    }
}

fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}

/// CRC32C over position (u64 LE), length (u32 LE) and payload.
pub(crate) fn record_crc(position: u64, payload: &[u8]) -> u32 {
    let mut head = [0u8; 12];
    head[0..8].copy_from_slice(&position.to_le_bytes());
    head[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&head), payload)
}

/// Appends one encoded record (length u32 [0..4], CRC32C u32 [4..8], payload [8..]) to `buf`.
/// The caller has checked `payload.len() <= MAX_RECORD_BYTES`.
pub(crate) fn encode_record(buf: &mut Vec<u8>, position: u64, payload: &[u8]) {
    buf.reserve(RECORD_HEADER_LEN + payload.len());
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&record_crc(position, payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Why a scan stopped early: real I/O trouble, or damage in the bytes at `offset`.
#[derive(Debug)]
pub(crate) enum ScanFail {
    Io(Error),
    Damage { offset: u64, reason: DamageReason },
}

/// Reads one segment front to back, checking every record.
pub(crate) struct SegmentScanner {
    path: PathBuf,
    reader: BufReader<File>,
    /// Offset of the next record header.
    offset: u64,
    /// Bytes of the file that belong to the journal (the file length, or a reader's snapshot).
    limit: u64,
    next_position: u64,
    header: SegmentHeader,
    payload: Vec<u8>,
}

fn io_fail(op: &'static str, path: &Path, source: io::Error) -> ScanFail {
    ScanFail::Io(Error::Io { op, path: path.to_path_buf(), source })
}

impl SegmentScanner {
    /// Opens `path`, reads and checks its header (magic, version, checksum, first position equal to
    /// `name_position`). `limit` caps the bytes read (None: the file length).
    pub fn open(path: &Path, name_position: u64, limit: Option<u64>, buffer_bytes: usize) -> Result<Self, ScanFail> {
        let file = File::open(path).map_err(|e| io_fail("open", path, e))?;
        let file_len = file.metadata().map_err(|e| io_fail("stat", path, e))?.len();
        let limit = limit.map_or(file_len, |l| l.min(file_len));
        if limit < SEGMENT_HEADER_LEN as u64 {
            return Err(ScanFail::Damage { offset: 0, reason: DamageReason::ShortHeader { len: limit } });
        }
        let mut reader = BufReader::with_capacity(buffer_bytes.max(4096), file);
        let mut h = [0u8; SEGMENT_HEADER_LEN];
        reader.read_exact(&mut h).map_err(|e| io_fail("read", path, e))?;
        let header = SegmentHeader::decode(&h).map_err(|reason| ScanFail::Damage { offset: 0, reason })?;
        if header.first_position != name_position {
            return Err(ScanFail::Damage {
                offset: 0,
                reason: DamageReason::NameMismatch { name: name_position, header: header.first_position },
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            offset: SEGMENT_HEADER_LEN as u64,
            limit,
            next_position: header.first_position,
            header,
            payload: Vec::new(),
        })
    }

    /// Bytes of the file this scanner reads (file length or the snapshot limit).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn header(&self) -> SegmentHeader {
        self.header
    }

    /// Position of the next record this scanner would return.
    pub fn next_position(&self) -> u64 {
        self.next_position
    }

    /// Offset just past the last record returned (or skipped).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads and checks the record header at the current offset; returns the payload length.
    fn record_header(&mut self) -> Result<Option<(usize, u32)>, ScanFail> {
        if self.offset >= self.limit {
            return Ok(None);
        }
        let available = self.limit - self.offset;
        if available < RECORD_HEADER_LEN as u64 {
            return Err(ScanFail::Damage {
                offset: self.offset,
                reason: DamageReason::TornRecord { needed: RECORD_HEADER_LEN as u64, available },
            });
        }
        let mut h = [0u8; RECORD_HEADER_LEN];
        self.read_exact_at_offset(&mut h, available)?;
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if len as usize > MAX_RECORD_BYTES {
            return Err(ScanFail::Damage { offset: self.offset, reason: DamageReason::BadLength { len } });
        }
        let needed = RECORD_HEADER_LEN as u64 + u64::from(len);
        if needed > available {
            return Err(ScanFail::Damage {
                offset: self.offset,
                reason: DamageReason::TornRecord { needed, available },
            });
        }
        Ok(Some((len as usize, crc)))
    }

    fn read_exact_at_offset(&mut self, buf: &mut [u8], available: u64) -> Result<(), ScanFail> {
        match self.reader.read_exact(buf) {
            Ok(()) => Ok(()),
            // The file shrank under us: the bytes we expected are not there.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ScanFail::Damage {
                offset: self.offset,
                reason: DamageReason::TornRecord { needed: buf.len() as u64, available },
            }),
            Err(e) => Err(io_fail("read", &self.path, e)),
        }
    }

    /// The next record, checked; `Ok(None)` at the end of the segment (or of the snapshot).
    pub fn next_record(&mut self) -> Result<Option<(u64, &[u8])>, ScanFail> {
        let Some((len, stored)) = self.record_header()? else {
            return Ok(None);
        };
        self.payload.clear();
        self.payload.resize(len, 0);
        let available = self.limit - self.offset;
        let mut payload = std::mem::take(&mut self.payload);
        let read = self.read_exact_at_offset(&mut payload[..], available);
        self.payload = payload;
        read?;
        let computed = record_crc(self.next_position, &self.payload);
        if computed != stored {
            return Err(ScanFail::Damage {
                offset: self.offset,
                reason: DamageReason::ChecksumMismatch { stored, computed },
            });
        }
        let position = self.next_position;
        self.next_position += 1;
        self.offset += (RECORD_HEADER_LEN + len) as u64;
        Ok(Some((position, &self.payload)))
    }

    /// Steps over the next record without reading or checking its payload; `Ok(false)` at the end.
    pub fn skip_record(&mut self) -> Result<bool, ScanFail> {
        let Some((len, _)) = self.record_header()? else {
            return Ok(false);
        };
        self.reader.seek_relative(len as i64).map_err(|e| io_fail("seek", &self.path, e))?;
        self.next_position += 1;
        self.offset += (RECORD_HEADER_LEN + len) as u64;
        Ok(true)
    }
}

impl std::fmt::Debug for SegmentScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentScanner")
            .field("next_position", &self.next_position())
            .field("offset", &self.offset())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_like_positions_and_round_trip() {
        assert_eq!(segment_file_name(1234), "00000000000000001234.wal");
        assert_eq!(parse_segment_file_name("00000000000000001234.wal"), Some(1234));
        assert_eq!(parse_segment_file_name(&segment_file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_file_name("1234.wal"), None);
        assert_eq!(parse_segment_file_name("00000000000000001234.wal.tmp"), None);
        assert!(segment_file_name(99) < segment_file_name(100));
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let h = SegmentHeader { first_position: 42, created_unix_ms: 1_700_000_000_000 };
        let mut bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        bytes[15] ^= 1;
        assert!(matches!(SegmentHeader::decode(&bytes), Err(DamageReason::HeaderChecksum { .. })));
        bytes[0] = b'X';
        assert_eq!(SegmentHeader::decode(&bytes), Err(DamageReason::BadMagic));
    }

    #[test]
    fn crc32c_is_castagnoli() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn record_crc_covers_position() {
        assert_ne!(record_crc(1, b"abc"), record_crc(2, b"abc"));
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, b"payload");
        assert_eq!(buf.len(), RECORD_HEADER_LEN + 7);
        assert_eq!(&buf[0..4], &7u32.to_le_bytes());
        assert_eq!(&buf[4..8], &record_crc(7, b"payload").to_le_bytes());
    }
}
