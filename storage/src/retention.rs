//! Removing data from a log: follower truncation, DeleteRecords, and retention
//! by time and size. Whole sealed segments are deleted, never the active one;
//! deleted segments stay readable by anyone holding their bytes.

use crate::checkpoint::sync_dir;
use crate::error::StorageError;
use crate::log::Log;
use crate::segment::Segment;

/// What [`Log::enforce_retention`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Segments deleted.
    pub deleted_segments: usize,
    /// Bytes of record data deleted.
    pub deleted_bytes: u64,
    /// The log start offset afterwards.
    pub log_start_offset: i64,
}

impl Log {
    /// Removes every record at or after `offset` (a follower aligning with a new
    /// leader). The batch containing `offset` is removed whole. The kept prefix
    /// of the cut segment is rewritten into a new file renamed over the old one,
    /// so readers of the old bytes are never cut short. Truncating below the log
    /// start empties the log and restarts it at `offset`.
    ///
    /// # Errors
    /// I/O errors; a failed truncation may be partial but always leaves a prefix.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        // A background fsync finishing later must not move the recovery point
        // over offsets this truncation removes.
        self.wait_for_background_syncs()?;
        if offset < self.log_start_offset {
            return self.truncate_fully_and_start_at(offset);
        }
        let floor = self
            .segments
            .range(..=offset)
            .next_back()
            .map(|(base, _)| *base)
            .unwrap_or(offset);
        let later: Vec<i64> = self
            .segments
            .range(floor + 1..)
            .map(|(base, _)| *base)
            .collect();
        for base in later {
            if let Some(segment) = self.segments.remove(&base) {
                segment.retire()?;
            }
        }
        let segment = self
            .segments
            .remove(&floor)
            .expect("invariant: the floor segment exists");
        let cut = segment.position_of(offset);
        let (dir, base) = (segment.dir.clone(), segment.base_offset);
        if let Some(position) = cut {
            segment.rewrite_prefix(position)?;
        } else {
            drop(segment);
        }
        sync_dir(&self.dir)?;
        let reopened = Segment::open_trusted(&dir, base, true, &self.config)?;
        self.segments.insert(base, reopened);
        let end = self.log_end_offset();
        debug_assert!(
            end <= offset,
            "truncation must not keep offsets at or after the target"
        );
        self.log_start_offset = self.log_start_offset.min(end);
        self.high_watermark = self.high_watermark.min(end);
        self.recovery_point = self.recovery_point.min(end);
        tracing::info!(dir = %self.dir.display(), offset, log_end = end, "truncated log");
        self.write_checkpoint()
    }

    /// Drops every segment and starts an empty log at `offset`.
    fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), StorageError> {
        let all: Vec<Segment> = std::mem::take(&mut self.segments).into_values().collect();
        for segment in all {
            segment.retire()?;
        }
        self.segments
            .insert(offset, Segment::create(&self.dir, offset, &self.config)?);
        sync_dir(&self.dir)?;
        self.log_start_offset = offset;
        self.high_watermark = offset;
        self.recovery_point = offset;
        self.write_checkpoint()
    }

    /// DeleteRecords: moves the log start offset to `offset` (durably, before
    /// returning) and deletes sealed segments wholly below it. Returns the new
    /// log start offset.
    ///
    /// # Errors
    /// `OffsetOutOfRange` when `offset` is above the high watermark; I/O errors.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, StorageError> {
        if offset > self.high_watermark {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            self.write_checkpoint()?;
            self.retire_segments_below_start()?;
        }
        Ok(self.log_start_offset)
    }

    /// Retires sealed segments whose every offset is below the log start.
    pub(crate) fn retire_segments_below_start(&mut self) -> Result<(), StorageError> {
        let doomed: Vec<i64> = self
            .segments
            .iter()
            .rev()
            .skip(1)
            .filter(|(_, s)| s.next_offset <= self.log_start_offset)
            .map(|(base, _)| *base)
            .collect();
        for base in doomed {
            if let Some(segment) = self.segments.remove(&base) {
                segment.retire()?;
            }
        }
        Ok(())
    }

    /// Deletes the oldest sealed segments while they are older than
    /// `retention.ms` (by their newest timestamp), the log is larger than
    /// `retention.bytes`, or they lie below the log start; never the active
    /// segment and never data at or above the high watermark. Skipped (except for
    /// the log-start rule) when `cleanup.policy` has no `delete`.
    ///
    /// # Errors
    /// I/O errors renaming or removing files.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<RetentionOutcome, StorageError> {
        let deletes = self.config.cleanup_policy.deletes();
        let mut excess_bytes = if deletes && self.config.retention_bytes >= 0 {
            self.size_bytes()
                .saturating_sub(self.config.retention_bytes as u64)
        } else {
            0
        };
        let mut doomed = Vec::new();
        for (base, segment) in self.segments.iter().rev().skip(1).rev() {
            if segment.next_offset > self.high_watermark {
                break;
            }
            let expired = deletes
                && self.config.retention_ms >= 0
                && now_ms.saturating_sub(segment.max_timestamp) > self.config.retention_ms;
            let oversized = excess_bytes >= segment.size() && excess_bytes > 0;
            let below_start = segment.next_offset <= self.log_start_offset;
            if !(expired || oversized || below_start) {
                break;
            }
            excess_bytes = excess_bytes.saturating_sub(segment.size());
            doomed.push(*base);
        }
        let mut outcome = RetentionOutcome::default();
        if let Some(&newest) = doomed.last() {
            let new_start = self
                .segments
                .range(newest + 1..)
                .next()
                .map_or(self.log_start_offset, |(base, _)| *base);
            self.log_start_offset = self.log_start_offset.max(new_start);
            self.write_checkpoint()?;
        }
        for base in doomed {
            if let Some(segment) = self.segments.remove(&base) {
                outcome.deleted_segments += 1;
                outcome.deleted_bytes += segment.size();
                segment.retire()?;
            }
        }
        outcome.log_start_offset = self.log_start_offset;
        if outcome.deleted_segments > 0 {
            tracing::info!(dir = %self.dir.display(), deleted = outcome.deleted_segments, log_start = self.log_start_offset, "retention deleted segments");
        }
        Ok(outcome)
    }
}
