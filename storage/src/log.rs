//! [`Log`]: one partition's segments, offsets and durability policy.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crate::batch::{self, CheckedBatch, VerifiedBatch};
use crate::checkpoint::{CLEAN_SHUTDOWN_FILE, PartitionCheckpoint, sync_dir, write_checked};
use crate::config::{LogConfig, TimestampType};
use crate::error::{IoContext, StorageError};
use crate::fetch::FetchSlice;
use crate::load::{apply_overrides, list_segments, load_segments};
use crate::metadata::PartitionMetadata;
use crate::segment::Segment;

/// What an append did: the offsets assigned and where the data went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker time stamped into the batches under LogAppendTime, else -1
    /// (what ProduceResponse reports).
    pub log_append_time: i64,
    /// Byte position of the first batch in its segment file.
    pub position: u64,
    /// Largest batch max timestamp of the append.
    pub max_timestamp: i64,
    /// Records appended.
    pub record_count: u32,
}

/// One partition's log. `Send + Sync`; one writer: mutations take `&mut self`,
/// reads take `&self` and return [`FetchSlice`]s that stay valid after the
/// borrow ends.
#[derive(Debug)]
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    /// By base offset; never empty; the last one is the active segment.
    pub(crate) segments: BTreeMap<i64, Segment>,
    pub(crate) log_start_offset: i64,
    pub(crate) high_watermark: i64,
    pub(crate) recovery_point: i64,
    unflushed_messages: i64,
    last_flush_ms: Option<i64>,
    metadata: PartitionMetadata,
    /// fsyncs of sealed segments running in the background, oldest first.
    pending_syncs: VecDeque<PendingSync>,
    /// A segment file was created since the last flush: fsync the directory.
    dir_dirty: bool,
}

/// Rolled segments whose background fsync may run at once.
const MAX_PENDING_SEGMENT_SYNCS: usize = 4;

/// A background fsync of a sealed segment; when it succeeds, everything below
/// `durable_to` is on disk.
#[derive(Debug)]
struct PendingSync {
    durable_to: i64,
    handle: JoinHandle<Result<(), StorageError>>,
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Log {
    /// Opens (or creates) the partition log in `dir`. After a clean close it
    /// trusts the trimmed files; otherwise it scans every segment from the one
    /// holding the recovery point, cuts torn or garbage tails and rebuilds
    /// indexes. Stored topic overrides (`partition.metadata`) are applied on top
    /// of `config`.
    ///
    /// # Errors
    /// I/O errors, with the path that failed.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Log, StorageError> {
        let threads = config.num_recovery_threads_per_data_dir;
        Log::open_with_threads(dir, config, threads)
    }

    /// [`Log::open`] scanning segments after the recovery point with up to
    /// `recovery_threads` threads (the [`crate::LogManager`] shares its
    /// `num.recovery.threads.per.data.dir` among the partitions it opens).
    pub(crate) fn open_with_threads(
        dir: &Path,
        config: LogConfig,
        recovery_threads: usize,
    ) -> Result<Log, StorageError> {
        fs::create_dir_all(dir).at(dir)?;
        let metadata = PartitionMetadata::read(dir)?;
        let config = apply_overrides(config, &metadata);
        let checkpoint = match PartitionCheckpoint::read(dir) {
            Ok(checkpoint) => checkpoint,
            Err(StorageError::CorruptFile { path, reason }) => {
                tracing::warn!(path = %path.display(), reason, "ignoring damaged checkpoint; recovering from the start");
                None
            }
            Err(error) => return Err(error),
        };
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists() && checkpoint.is_some();
        if marker.exists() {
            // Removed before anything changes, so a crash from here on is unclean.
            fs::remove_file(&marker).at(&marker)?;
            sync_dir(dir)?;
        }
        let bases = list_segments(dir)?;
        let recovery_point = match (clean, checkpoint) {
            (true, _) => i64::MAX,
            (false, Some(c)) => c.recovery_point,
            (false, None) => i64::MIN,
        };
        let first_base = checkpoint.map_or(0, |c| c.log_start_offset);
        let segments = load_segments(
            dir,
            &bases,
            recovery_point,
            first_base,
            &config,
            recovery_threads,
        )?;
        let mut log = Log {
            dir: dir.to_owned(),
            config,
            segments,
            log_start_offset: 0,
            high_watermark: 0,
            recovery_point: 0,
            unflushed_messages: 0,
            last_flush_ms: None,
            metadata,
            pending_syncs: VecDeque::new(),
            dir_dirty: false,
        };
        log.settle_offsets(checkpoint, clean);
        log.retire_segments_below_start()?;
        if !clean {
            log.write_checkpoint()?;
        }
        tracing::debug!(dir = %dir.display(), clean, log_start = log.log_start_offset, log_end = log.log_end_offset(), "opened log");
        Ok(log)
    }

    /// Derives start offset, high watermark and recovery point from the loaded
    /// segments and the checkpoint, clamped so they are always in range.
    fn settle_offsets(&mut self, checkpoint: Option<PartitionCheckpoint>, clean: bool) {
        let first_base = self.segments.keys().next().copied().unwrap_or(0);
        let end = self.log_end_offset();
        self.log_start_offset = checkpoint
            .map_or(first_base, |c| c.log_start_offset)
            .max(first_base)
            .min(end);
        self.high_watermark = checkpoint
            .map_or(self.log_start_offset, |c| c.high_watermark)
            .clamp(self.log_start_offset, end);
        self.recovery_point = if clean {
            end
        } else {
            checkpoint
                .map_or(first_base, |c| c.recovery_point)
                .clamp(first_base, end)
        };
    }

    /// The active (last) segment.
    pub(crate) fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("invariant: a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("invariant: a log always has an active segment")
    }

    /// Validates every batch of a produce request before anything is written.
    fn validate(&self, batches: &[u8]) -> Result<Vec<CheckedBatch>, StorageError> {
        self.validate_with(batches, batch::check_all)
    }

    /// Validates with `check`, then the limits every append obeys.
    fn validate_with(
        &self,
        batches: &[u8],
        check: impl FnOnce(&[u8]) -> Result<Vec<CheckedBatch>, (usize, batch::Defect)>,
    ) -> Result<Vec<CheckedBatch>, StorageError> {
        if batches.is_empty() {
            return Err(StorageError::InvalidRecord {
                position: 0,
                reason: "no record batch given",
            });
        }
        let checked = check(batches).map_err(|(position, defect)| {
            if defect.is_corruption() {
                StorageError::CorruptBatch {
                    position,
                    reason: defect.reason(),
                }
            } else {
                StorageError::InvalidRecord {
                    position,
                    reason: defect.reason(),
                }
            }
        })?;
        let limit = self.config.max_message_bytes.min(self.config.segment_bytes);
        if let Some(big) = checked.iter().find(|b| b.header.size() as u64 > limit) {
            return Err(StorageError::MessageTooLarge {
                size: big.header.size() as u64,
                max_bytes: limit,
            });
        }
        if batches.len() as u64 > u64::from(u32::MAX / 2) {
            return Err(StorageError::MessageTooLarge {
                size: batches.len() as u64,
                max_bytes: u64::from(u32::MAX / 2),
            });
        }
        Ok(checked)
    }

    /// Appends one or more whole RecordBatch v2 (as in a Produce request) as the
    /// leader. All are validated first; on any error nothing is written. Offsets
    /// are assigned from the log end offset by patching `baseOffset` and
    /// `partitionLeaderEpoch` in place (outside the CRC); under LogAppendTime the
    /// max timestamp is set to `now_ms` and the CRC recomputed, as Kafka does.
    ///
    /// Cost: a `pwrite` into the page cache, plus an fsync when the segment rolls
    /// or the flush policy is due.
    ///
    /// # Errors
    /// `CorruptBatch` / `InvalidRecord` / `MessageTooLarge` for bad input (log
    /// unchanged), `Io` for disk failures such as `ENOSPC` (log unchanged and
    /// appendable once space is freed).
    pub fn append(
        &mut self,
        batches: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let checked = self.validate(batches)?;
        self.append_checked(batches, checked, leader_epoch, now_ms)
    }

    /// [`Log::append`] for batches the caller has already validated in full
    /// (CRC-32C, every record, dense offset deltas), as a broker does before
    /// it looks at producer sequences: the log checks only what each header
    /// shows (framing, record count, the limits), so a produce's records are
    /// walked once. `verified` holds one entry per batch, in order.
    ///
    /// # Errors
    /// As [`Log::append`]; a `verified` that does not match the batches is
    /// `CorruptBatch`.
    pub fn append_verified(
        &mut self,
        batches: &mut [u8],
        verified: &[VerifiedBatch],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let checked = self.validate_with(batches, |buf| batch::check_verified(buf, verified))?;
        self.append_checked(batches, checked, leader_epoch, now_ms)
    }

    fn append_checked(
        &mut self,
        batches: &mut [u8],
        mut checked: Vec<CheckedBatch>,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let log_append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let mut next_offset = self.log_end_offset();
        for batch in &mut checked {
            let bytes = &mut batches[batch.position..batch.position + batch.header.size()];
            batch::assign_offset(bytes, next_offset, leader_epoch);
            batch.header.base_offset = next_offset;
            if log_append_time {
                batch::stamp_log_append_time(bytes, now_ms);
                batch.header.max_timestamp = now_ms;
                batch.max_timestamp_delta = 0;
            }
            next_offset = batch.header.last_offset() + 1;
        }
        let mut info = self.write_batches(batches, &checked, now_ms)?;
        if log_append_time {
            info.log_append_time = now_ms;
        }
        Ok(info)
    }

    /// Appends batches that already carry their offsets (a follower copying its
    /// leader). They must start at the log end offset and be dense.
    ///
    /// # Errors
    /// `UnexpectedAppendOffset` when the offsets do not continue the log, plus
    /// the errors of [`Log::append`].
    pub fn append_as_follower(&mut self, batches: &[u8]) -> Result<AppendInfo, StorageError> {
        let checked = self.validate(batches)?;
        let mut expected = self.log_end_offset();
        for batch in &checked {
            if batch.header.base_offset != expected {
                return Err(StorageError::UnexpectedAppendOffset {
                    expected,
                    found: batch.header.base_offset,
                });
            }
            expected = batch.header.last_offset() + 1;
        }
        self.write_batches(batches, &checked, wall_clock_ms())
    }

    fn write_batches(
        &mut self,
        bytes: &[u8],
        checked: &[CheckedBatch],
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let (first, last) = match (checked.first(), checked.last()) {
            (Some(first), Some(last)) => (first.header, last.header),
            _ => unreachable!("validate rejects an empty append"),
        };
        self.reap_syncs_and_checkpoint(usize::MAX)?;
        if self
            .active()
            .should_roll(bytes.len() as u64, last.last_offset(), now_ms, &self.config)
        {
            self.roll()?;
        }
        let config = self.config.clone();
        let position = self.active_mut().append(bytes, checked, now_ms, &config)?;
        let record_count: u32 = checked.iter().map(|b| b.header.record_count as u32).sum();
        debug_assert_eq!(
            self.log_end_offset(),
            last.last_offset() + 1,
            "offsets must stay dense"
        );
        self.unflushed_messages += i64::from(record_count);
        self.last_flush_ms.get_or_insert(now_ms);
        self.flush_if_due(now_ms)?;
        Ok(AppendInfo {
            base_offset: first.base_offset,
            last_offset: last.last_offset(),
            log_append_time: -1,
            position,
            max_timestamp: checked
                .iter()
                .map(|b| b.header.max_timestamp)
                .max()
                .unwrap_or(-1),
            record_count,
        })
    }

    /// Starts a new active segment at the log end offset and seals (trims) the
    /// old one. The old segment is fsynced by a background thread, as Kafka
    /// flushes rolled segments asynchronously: the recovery point moves past it
    /// once that fsync has succeeded, and never before.
    fn roll(&mut self) -> Result<(), StorageError> {
        let base = self.log_end_offset();
        let segment = Segment::create(&self.dir, base, &self.config)?;
        self.dir_dirty = true;
        let previous = self.segments.insert(base, segment);
        debug_assert!(
            previous.is_none(),
            "a non-empty segment already starts at the log end offset"
        );
        let Some(old) = self.segments.range_mut(..base).next_back().map(|(_, s)| s) else {
            return Ok(());
        };
        old.seal()?;
        old.drop_behind_sealed(self.config.page_cache_window_bytes);
        let sync = old.background_sync()?;
        // Back-pressure: a disk slower than the producers stalls appends here
        // instead of piling up threads and dirty segments.
        self.reap_syncs_and_checkpoint(MAX_PENDING_SEGMENT_SYNCS - 1)?;
        let spawned = std::thread::Builder::new()
            .name("sluice-segment-sync".to_owned())
            .spawn(move || sync.sync());
        match spawned {
            Ok(handle) => self.pending_syncs.push_back(PendingSync {
                durable_to: base,
                handle,
            }),
            Err(error) => {
                tracing::warn!(%error, "no thread for the background fsync; syncing inline");
                if let Some((_, old)) = self.segments.range(..base).next_back() {
                    old.sync()?;
                }
                self.recovery_point = self.recovery_point.max(base);
                self.checkpoint_recovery_point();
            }
        }
        tracing::debug!(dir = %self.dir.display(), base, "rolled segment");
        Ok(())
    }

    /// Waits for every background fsync of sealed segments.
    pub(crate) fn wait_for_background_syncs(&mut self) -> Result<(), StorageError> {
        self.reap_syncs(0).map(drop)
    }

    /// Collects finished background fsyncs, waiting for the oldest ones until at
    /// most `keep_at_most` are still running; moves the recovery point, and
    /// reports a failed fsync here. Returns whether the recovery point moved.
    fn reap_syncs(&mut self, keep_at_most: usize) -> Result<bool, StorageError> {
        let before = self.recovery_point;
        while let Some(front) = self.pending_syncs.front() {
            if self.pending_syncs.len() <= keep_at_most && !front.handle.is_finished() {
                break;
            }
            let Some(pending) = self.pending_syncs.pop_front() else {
                break;
            };
            let result = pending.handle.join().unwrap_or_else(|_| {
                Err(StorageError::CorruptFile {
                    path: self.dir.clone(),
                    reason: "the background fsync thread panicked".to_owned(),
                })
            });
            result?;
            self.recovery_point = self
                .recovery_point
                .max(pending.durable_to.min(self.log_end_offset()));
        }
        Ok(self.recovery_point != before)
    }

    /// [`Log::reap_syncs`], then checkpoints the recovery point if it moved: a
    /// rolled segment, once fsynced, is never scanned again after a crash
    /// (Kafka checkpoints only on a timer, so a `kill -9` before the timer
    /// rescans every segment rolled since). Costs one small file write per
    /// rolled segment. A failed write is logged and not returned: the
    /// checkpoint on disk stays older, so recovery scans more, never less.
    fn reap_syncs_and_checkpoint(&mut self, keep_at_most: usize) -> Result<(), StorageError> {
        if self.reap_syncs(keep_at_most)? {
            self.checkpoint_recovery_point();
        }
        Ok(())
    }

    /// Writes the checkpoint after the recovery point moved, logging a failure.
    fn checkpoint_recovery_point(&self) {
        if let Err(error) = self.write_checkpoint() {
            tracing::warn!(dir = %self.dir.display(), %error, "could not checkpoint the recovery point after a roll; recovery would scan from the previous one");
        }
    }

    /// Whole batches starting with the one that contains `offset`, up to
    /// `max_bytes` (but always one whole batch if there is one, as KIP-74 asks),
    /// never including batches at or after `max_offset` (the high watermark for
    /// consumers, the log end offset for followers). Zero-copy.
    ///
    /// # Errors
    /// `OffsetOutOfRange` when `offset` is below the log start or above the end.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
    ) -> Result<FetchSlice, StorageError> {
        let (log_start_offset, log_end_offset) = (self.log_start_offset, self.log_end_offset());
        if offset < log_start_offset || offset > log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        let mut slice = FetchSlice::default();
        if offset >= max_offset.min(log_end_offset) {
            return Ok(slice);
        }
        let floor = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(offset, |(base, _)| *base);
        let mut found = false;
        for segment in self.segments.range(floor..).map(|(_, s)| s) {
            let position = if found {
                0
            } else if let Some(position) = segment.position_of(offset) {
                found = true;
                position
            } else {
                continue;
            };
            segment.drop_behind_read(position, self.config.page_cache_window_bytes);
            let budget = max_bytes.saturating_sub(slice.len());
            let (bytes, stopped) =
                segment.slice_from(position, budget, max_offset, slice.is_empty());
            slice.push(bytes);
            if stopped {
                break;
            }
        }
        Ok(slice)
    }

    /// The first offset still readable.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// The high watermark as last set by the caller (consumers read below it).
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Records the high watermark (clamped to `[log_start_offset, log_end_offset]`);
    /// it is persisted with the next checkpoint.
    pub fn set_high_watermark(&mut self, offset: i64) {
        self.high_watermark = offset.clamp(self.log_start_offset, self.log_end_offset());
    }

    /// The configuration in force.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the configuration; size and index settings apply from the next
    /// segment, everything else at once.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// The topic id and config overrides stored next to the log.
    pub fn partition_metadata(&self) -> &PartitionMetadata {
        &self.metadata
    }

    /// Durably stores the topic id and config overrides next to the log, so a
    /// restart restores them. Does not change the config in force: call
    /// [`Log::set_config`] too.
    ///
    /// # Errors
    /// I/O errors writing `partition.metadata`.
    pub fn set_partition_metadata(
        &mut self,
        metadata: PartitionMetadata,
    ) -> Result<(), StorageError> {
        metadata.write(&self.dir)?;
        self.metadata = metadata;
        Ok(())
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Fsyncs everything not yet durable (the active segment, segments sealed
    /// since the last flush, new directory entries) and records the recovery point.
    ///
    /// # Errors
    /// I/O errors from fsync or the checkpoint write.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        self.reap_syncs(0)?;
        if self.dir_dirty {
            sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        let recovery_point = self.recovery_point;
        for segment in self
            .segments
            .values()
            .filter(|s| s.active || s.next_offset > recovery_point)
        {
            segment.sync()?;
        }
        self.recovery_point = self.log_end_offset();
        self.unflushed_messages = 0;
        self.write_checkpoint()
    }

    /// Flushes when `flush.messages` or `flush.ms` says so; returns whether it did.
    /// Appends call it; a timer may call it too so `flush.ms` holds when idle.
    ///
    /// # Errors
    /// As [`Log::flush`].
    pub fn flush_if_due(&mut self, now_ms: i64) -> Result<bool, StorageError> {
        let by_count = self.unflushed_messages > 0
            && self.unflushed_messages >= self.config.flush_interval_messages;
        let by_time = self.unflushed_messages > 0
            && self
                .last_flush_ms
                .is_some_and(|last| now_ms.saturating_sub(last) >= self.config.flush_interval_ms);
        if !(by_count || by_time) {
            return Ok(false);
        }
        self.flush()?;
        self.last_flush_ms = Some(now_ms);
        Ok(true)
    }

    /// Bytes of record data in the log.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }

    /// Clean shutdown: fsync, trim the active segment, checkpoint, and leave the
    /// clean-shutdown marker so the next open skips the scan.
    ///
    /// # Errors
    /// I/O errors; the log is then left as after an unclean stop (recovered on open).
    pub fn close(mut self) -> Result<(), StorageError> {
        self.reap_syncs(0)?;
        self.active_mut().seal()?;
        self.active().sync()?;
        self.flush()?;
        write_checked(&self.dir.join(CLEAN_SHUTDOWN_FILE), "clean\n")
    }

    /// Persists the recovery point (moved by finished background fsyncs), the
    /// high watermark and the log start offset without fsyncing any data: what
    /// Kafka does every `log.flush.offset.checkpoint.interval.ms` and
    /// `replica.high.watermark.checkpoint.interval.ms`. Call it from a timer so a
    /// restart after a crash scans little and restores the high watermark.
    ///
    /// # Errors
    /// I/O errors writing the checkpoint, or a failed background fsync.
    pub fn checkpoint(&mut self) -> Result<(), StorageError> {
        self.reap_syncs(usize::MAX)?;
        self.write_checkpoint()
    }

    /// Writes the partition checkpoint (recovery point, high watermark, start).
    pub(crate) fn write_checkpoint(&self) -> Result<(), StorageError> {
        PartitionCheckpoint {
            recovery_point: self.recovery_point,
            high_watermark: self.high_watermark,
            log_start_offset: self.log_start_offset,
        }
        .write(&self.dir)
    }
}
