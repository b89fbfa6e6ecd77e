//! Finding the real end of a segment's data and making its indexes agree.
//!
//! Files are preallocated, so the end of the data is found by walking batches:
//! each must frame correctly (length, magic), pass CRC-32C and continue the
//! offsets densely. The first failure is the end; everything after it is cut
//! (the file is truncated, so later appends start from zeros and nothing cut can
//! come back). A segment opened after a clean shutdown is trusted but checked
//! cheaply (last index entry, tail walk to the exact file size); any doubt falls
//! back to the full scan, which also rebuilds both indexes.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::batch::{self, CheckedBatch, Defect};
use crate::config::LogConfig;
use crate::error::{IoContext, StorageError};
use crate::index::{IndexFile, OFFSET_ENTRY_BYTES, OffsetIndex, TIME_ENTRY_BYTES, TimeIndex};
use crate::scan::{SCAN_CHUNK_BYTES, scan_file};
use crate::segment::{Segment, segment_file};

/// How far a walk over batches got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walk {
    /// End of the last good batch.
    pub end: usize,
    /// Offset after the last good batch.
    pub next_offset: i64,
    /// Why the walk stopped before the end of the bytes, unless it stopped at
    /// preallocated zeros.
    pub defect: Option<Defect>,
}

/// Walks batches in `data[start..]`, the first expected at `expected_offset`,
/// calling `visit` for each good one. `full` adds CRC-32C and record checks.
pub(crate) fn walk(
    data: &[u8],
    start: usize,
    expected_offset: i64,
    full: bool,
    mut visit: impl FnMut(&CheckedBatch),
) -> Walk {
    let mut position = start;
    let mut next_offset = expected_offset;
    while position < data.len() {
        let checked = if full {
            batch::check_batch(data, position)
        } else {
            batch::check_frame(data, position).map(|header| CheckedBatch {
                position,
                header,
                max_timestamp_delta: header.last_offset_delta,
            })
        };
        let defect = match checked {
            Ok(batch) if batch.header.base_offset == next_offset => {
                visit(&batch);
                next_offset = batch.header.last_offset() + 1;
                position += batch.header.size();
                continue;
            }
            Ok(_) => Defect::BadOffsetDeltas,
            Err(defect) => defect,
        };
        let rest = &data[position..];
        let zeros = rest[..rest.len().min(batch::LOG_OVERHEAD)]
            .iter()
            .all(|b| *b == 0);
        return Walk {
            end: position,
            next_offset,
            defect: (!zeros).then_some(defect),
        };
    }
    Walk {
        end: position,
        next_offset,
        defect: None,
    }
}

fn open_log(path: &Path) -> Result<(File, u64), StorageError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .at(path)?;
    let len = file.metadata().at(path)?.len();
    Ok((file, len))
}

fn fresh_indexes(
    dir: &Path,
    base_offset: i64,
    config: &LogConfig,
) -> Result<(OffsetIndex, TimeIndex), StorageError> {
    let offset = IndexFile::open_writable(
        &segment_file(dir, base_offset, "index"),
        OFFSET_ENTRY_BYTES,
        0,
        config.segment_index_bytes,
        config.index_preallocate_step_bytes,
    )?;
    let time = IndexFile::open_writable(
        &segment_file(dir, base_offset, "timeindex"),
        TIME_ENTRY_BYTES,
        0,
        config.segment_index_bytes,
        config.index_preallocate_step_bytes,
    )?;
    Ok((OffsetIndex(offset), TimeIndex(time)))
}

impl Segment {
    /// Opens a segment after an unclean stop: walks every batch with full checks
    /// (reading the file in large chunks, `scan`), cuts the file after the last
    /// good one and rebuilds both indexes. The
    /// result is active (writable); the caller seals it if it is not the last.
    pub fn recover(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
    ) -> Result<(Segment, Option<Defect>), StorageError> {
        let path = segment_file(dir, base_offset, "log");
        let (file, len) = open_log(&path)?;
        let (offset_index, time_index) = fresh_indexes(dir, base_offset, config)?;
        let mut segment = Segment::assemble(dir, base_offset, file, len, offset_index, time_index);
        segment.remap(len)?;
        let mapping = segment.mapping.clone();
        segment.data_end = 0;
        let mut index_failure = None;
        let scanned = scan_file(&path, &mapping, base_offset, SCAN_CHUNK_BYTES, |batch| {
            if index_failure.is_some() {
                return;
            }
            match segment.reserve_index_room([batch.header.size() as u64], config) {
                Ok(()) => segment.index_batch(
                    batch.position as u64,
                    &batch.header,
                    batch.max_timestamp_delta,
                    config,
                ),
                Err(error) => index_failure = Some(error),
            }
        });
        drop(mapping);
        let walked = scanned.at(&path)?;
        if let Some(error) = index_failure {
            return Err(error);
        }
        segment.data_end = walked.end as u64;
        if let Some(defect) = walked.defect {
            tracing::warn!(path = %path.display(), position = walked.end, reason = defect.reason(), "cutting damaged tail of segment");
        }
        if segment.data_end < len {
            // No reader exists yet: drop our mapping, then cut the file so the
            // bytes after the end read as zeros from now on.
            segment.mapping = bytes::Bytes::new();
            segment.file.set_len(segment.data_end).at(&path)?;
            segment.file.sync_all().at(&path)?;
            segment.reserved = segment.data_end;
            segment.remap(segment.data_end)?;
        }
        Ok((segment, walked.defect))
    }

    /// Opens a segment whose files were trimmed by a seal or a clean close: the
    /// file size is the data end. Checks the indexes against the log cheaply and
    /// falls back to [`Segment::recover`] when anything disagrees.
    pub fn open_trusted(
        dir: &Path,
        base_offset: i64,
        active: bool,
        config: &LogConfig,
    ) -> Result<Segment, StorageError> {
        match Segment::try_open_trusted(dir, base_offset, active, config)? {
            Some(segment) => Ok(segment),
            None => {
                tracing::info!(dir = %dir.display(), base_offset, "segment indexes disagree with the log; rebuilding");
                let (mut segment, _) = Segment::recover(dir, base_offset, config)?;
                if !active {
                    segment.seal()?;
                }
                Ok(segment)
            }
        }
    }

    fn try_open_trusted(
        dir: &Path,
        base_offset: i64,
        active: bool,
        config: &LogConfig,
    ) -> Result<Option<Segment>, StorageError> {
        let path = segment_file(dir, base_offset, "log");
        let (file, len) = open_log(&path)?;
        let Some((offset_index, time_index)) = open_indexes(dir, base_offset, active, config)?
        else {
            return Ok(None);
        };
        let mut segment = Segment::assemble(dir, base_offset, file, len, offset_index, time_index);
        segment.active = active;
        segment.remap(len)?;
        Ok(segment.check_and_summarize().then_some(segment))
    }

    /// Cheap consistency check of a trusted segment, filling in `next_offset`
    /// and the max timestamp. False when the files disagree.
    fn check_and_summarize(&mut self) -> bool {
        let data = self.mapping.clone();
        if !data.is_empty()
            && batch::check_frame(&data, 0).map(|h| h.base_offset) != Ok(self.base_offset)
        {
            return false;
        }
        let (start, start_offset) = match self.offset_index.0.len().checked_sub(1) {
            None => (0, self.base_offset),
            Some(last) => {
                let (relative, position) = self.offset_index.get(last);
                let offset = self.base_offset + i64::from(relative);
                match batch::check_frame(&data, position as usize) {
                    Ok(header) if header.base_offset == offset => (position as usize, offset),
                    _ => return false,
                }
            }
        };
        let mut tail_max = (-1i64, -1i64);
        let walked = walk(&data, start, start_offset, false, |batch| {
            if batch.header.max_timestamp > tail_max.0 {
                tail_max = (batch.header.max_timestamp, batch.header.last_offset());
            }
        });
        if walked.end != data.len() {
            return false;
        }
        self.next_offset = walked.next_offset;
        self.bytes_since_index_entry = (data.len() - start) as u64;
        if let Some((timestamp, relative)) = self.time_index.last() {
            let offset = self.base_offset + i64::from(relative);
            if offset >= self.next_offset {
                return false;
            }
            (self.max_timestamp, self.offset_of_max_timestamp) = (timestamp, offset);
        }
        if tail_max.0 > self.max_timestamp {
            (self.max_timestamp, self.offset_of_max_timestamp) = tail_max;
        }
        true
    }
}

/// Opens both index files, writable (keeping their entries) for the active
/// segment, read-only otherwise. `None` when one is missing or malformed.
fn open_indexes(
    dir: &Path,
    base_offset: i64,
    active: bool,
    config: &LogConfig,
) -> Result<Option<(OffsetIndex, TimeIndex)>, StorageError> {
    let offset_path = segment_file(dir, base_offset, "index");
    let time_path = segment_file(dir, base_offset, "timeindex");
    let (Some(offset), Some(time)) = (
        IndexFile::open_sealed(&offset_path, OFFSET_ENTRY_BYTES)?,
        IndexFile::open_sealed(&time_path, TIME_ENTRY_BYTES)?,
    ) else {
        return Ok(None);
    };
    if !active {
        return Ok(Some((OffsetIndex(offset), TimeIndex(time))));
    }
    let (offset_entries, time_entries) = (offset.len(), time.len());
    drop((offset, time));
    let offset = IndexFile::open_writable(
        &offset_path,
        OFFSET_ENTRY_BYTES,
        offset_entries,
        config.segment_index_bytes,
        config.index_preallocate_step_bytes,
    )?;
    let time = IndexFile::open_writable(
        &time_path,
        TIME_ENTRY_BYTES,
        time_entries,
        config.segment_index_bytes,
        config.index_preallocate_step_bytes,
    )?;
    Ok(Some((OffsetIndex(offset), TimeIndex(time))))
}
