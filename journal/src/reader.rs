//! Sequential reader over a snapshot of the journal: every record from a start position to the last
//! record written when the reader was made, in order across segments, each checksum-verified.

use std::path::PathBuf;

use crate::error::{DamageReason, Error, Result};
use crate::format::{ScanFail, SegmentScanner};

/// One segment as a reader sees it.
#[derive(Clone, Debug)]
pub(crate) struct ReaderSegment {
    pub path: PathBuf,
    pub first_position: u64,
    /// Position after the segment's last record in the snapshot.
    pub end_position: u64,
    /// Bytes of the segment in the snapshot.
    pub bytes: u64,
}

/// Reads records in position order. Use [`next_record`](Self::next_record) to borrow each payload
/// (no allocation) or the `Iterator` impl to get owned `(position, Vec<u8>)` items.
///
/// After the first error the reader is finished (returns `None`).
#[derive(Debug)]
pub struct Reader {
    segments: Vec<ReaderSegment>,
    current: Option<(usize, SegmentScanner)>,
    next: u64,
    end: u64,
    buffer_bytes: usize,
    done: bool,
}

impl Reader {
    pub(crate) fn new(segments: Vec<ReaderSegment>, from: u64, end: u64, buffer_bytes: usize) -> Self {
        Self { segments, current: None, next: from, end, buffer_bytes, done: false }
    }

    /// Position of the next record this reader returns.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Position after the last record this reader will return.
    pub fn end_position(&self) -> u64 {
        self.end
    }

    /// The next record, borrowing the payload until the next call; `None` at the end.
    pub fn next_record(&mut self) -> Option<Result<(u64, &[u8])>> {
        if self.done || self.next >= self.end {
            return None;
        }
        if let Err(e) = self.prepare() {
            self.done = true;
            return Some(Err(e));
        }
        let Some((index, scanner)) = self.current.as_mut() else {
            self.done = true;
            return None;
        };
        let segment = &self.segments[*index];
        // A scanner that fails or ends does not move: these describe where it stopped.
        let (offset, position) = (scanner.offset(), scanner.next_position());
        match scanner.next_record() {
            Ok(Some((position, payload))) => {
                self.next = position + 1;
                Some(Ok((position, payload)))
            }
            Ok(None) => {
                self.done = true;
                Some(Err(Error::Corrupt {
                    path: segment.path.clone(),
                    offset,
                    position,
                    reason: DamageReason::MissingRecords { ends_at: position, next_starts_at: segment.end_position },
                }))
            }
            Err(fail) => {
                self.done = true;
                Some(Err(fail_to_error(fail, segment, position)))
            }
        }
    }

    /// Makes `current` a scanner whose next record is `self.next`.
    fn prepare(&mut self) -> Result<()> {
        loop {
            let index = match &mut self.current {
                Some((index, scanner)) if scanner.next_position() < self.segments[*index].end_position => {
                    while scanner.next_position() < self.next {
                        let position = scanner.next_position();
                        match scanner.skip_record() {
                            Ok(true) => {}
                            Ok(false) => {
                                let segment = &self.segments[*index];
                                return Err(Error::Corrupt {
                                    path: segment.path.clone(),
                                    offset: scanner.offset(),
                                    position,
                                    reason: DamageReason::MissingRecords {
                                        ends_at: position,
                                        next_starts_at: segment.end_position,
                                    },
                                });
                            }
                            Err(fail) => return Err(fail_to_error(fail, &self.segments[*index], position)),
                        }
                    }
                    return Ok(());
                }
                Some((index, _)) => *index + 1,
                None => 0,
            };
            let Some(segment) = self.segments.get(index) else {
                // The snapshot ends before `end`: cannot happen for snapshots the journal makes.
                return Err(Error::PositionOutOfRange { requested: self.next, first: self.next, next: self.next });
            };
            let scanner =
                SegmentScanner::open(&segment.path, segment.first_position, Some(segment.bytes), self.buffer_bytes)
                    .map_err(|fail| fail_to_error(fail, segment, segment.first_position))?;
            self.current = Some((index, scanner));
        }
    }
}

fn fail_to_error(fail: ScanFail, segment: &ReaderSegment, position: u64) -> Error {
    match fail {
        ScanFail::Io(e) => e,
        ScanFail::Damage { offset, reason } => Error::Corrupt { path: segment.path.clone(), offset, position, reason },
    }
}

impl Iterator for Reader {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().map(|r| r.map(|(position, payload)| (position, payload.to_vec())))
    }
}
