//! One segment of a partition: `<base>.log` plus its `.index` and `.timeindex`.
//!
//! The active segment's `.log` grows by `fallocate` reservations that follow
//! what it receives (a page first, then doubling up to `preallocate_step_bytes`
//! at a time) and is written with `pwrite`; readers see it through a read-only shared mapping handed out as
//! `Bytes`. Its indexes grow the same way, up to their own step, before the batches
//! they will index are written (`index.rs`). Sealing trims every file to its
//! real size and fsyncs it. A retired segment's `.log` is renamed to
//! `.log.deleted` at once (so a restart never sees it) and unlinked when the
//! last reader's `Bytes` drops.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::batch::{self, BatchHeader, CheckedBatch};
use crate::config::{LogConfig, PAGE_BYTES};
use crate::error::{IoContext, StorageError};
use crate::index::{IndexFile, OFFSET_ENTRY_BYTES, OffsetIndex, TIME_ENTRY_BYTES, TimeIndex};
use crate::mapped;
use crate::page_cache;

/// `Segment::read_job_at` before the first read of older data.
const NO_READ_YET: u64 = u64::MAX;

/// Suffix of a retired log file waiting for its last reader.
pub(crate) const DELETED_SUFFIX: &str = ".deleted";

/// `<dir>/<base:020>.<extension>`, Kafka's file naming.
pub(crate) fn segment_file(dir: &Path, base_offset: i64, extension: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}"))
}

/// Removes a segment's files outright; only for segments nobody has mapped
/// (while a log is being opened).
pub(crate) fn remove_segment_files(dir: &Path, base_offset: i64) -> Result<(), StorageError> {
    for extension in ["log", "index", "timeindex"] {
        let path = segment_file(dir, base_offset, extension);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(path, e)),
        }
    }
    Ok(())
}

/// The size a `.log` reserved up to `reserved` bytes grows to so that it holds
/// `end` bytes (`end > reserved`): by whole growth steps, where a step is the
/// size of the file so far (at least `preallocate_initial_bytes`, at most
/// `preallocate_step_bytes`). So an empty file first reserves the initial
/// size (or the first batch), each later growth doubles the file until it
/// grows by whole `preallocate_step_bytes`, and what a partition reserves
/// follows what it receives. The size is rounded up to a page (reserving part
/// of a block reserves the whole block anyway) and never passes
/// `segment.bytes`, unless `end` does.
fn next_log_reservation(reserved: u64, end: u64, config: &LogConfig) -> u64 {
    debug_assert!(end > reserved, "growth of a file that already holds {end}");
    let step = reserved
        .max(config.preallocate_initial_bytes)
        .min(config.preallocate_step_bytes)
        .max(1);
    let steps = (end - reserved).div_ceil(step);
    reserved
        .saturating_add(steps.saturating_mul(step))
        .next_multiple_of(PAGE_BYTES)
        .min(config.segment_bytes.max(end))
}

/// Unlinks a retired log file once every mapping of it is gone: held by the
/// segment and by each mapping, so the last one to drop removes the file.
#[derive(Debug, Default)]
pub(crate) struct RetireGuard {
    path: Mutex<Option<PathBuf>>,
}

impl RetireGuard {
    fn doom(&self, path: PathBuf) {
        if let Ok(mut slot) = self.path.lock() {
            *slot = Some(path);
        }
    }
}

impl Drop for RetireGuard {
    fn drop(&mut self) {
        let path = self.path.get_mut().ok().and_then(Option::take);
        if let Some(path) = path
            && let Err(error) = fs::remove_file(&path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), %error, "could not remove retired segment");
        }
    }
}

/// Second handles on a sealed segment's files, fsynced by a background thread.
#[derive(Debug)]
pub(crate) struct SegmentSync {
    files: Vec<(PathBuf, File)>,
}

impl SegmentSync {
    /// fdatasync every file.
    pub fn sync(&self) -> Result<(), StorageError> {
        for (path, file) in &self.files {
            file.sync_data().at(path)?;
        }
        Ok(())
    }
}

/// One segment. Fields are crate-visible because recovery (`recovery.rs`) builds
/// and checks segments from their files.
pub(crate) struct Segment {
    pub base_offset: i64,
    pub dir: PathBuf,
    pub file: File,
    pub guard: Arc<RetireGuard>,
    /// Read-only view of `[0, mapped_len)` of the file.
    pub mapping: Bytes,
    /// End of the valid batches: everything below is immutable.
    pub data_end: u64,
    /// Current file size (reserved space while active).
    pub reserved: u64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    /// Offset after the last batch (the base offset when empty).
    pub next_offset: i64,
    /// Largest batch max timestamp, -1 when empty.
    pub max_timestamp: i64,
    /// Offset of the first record with `max_timestamp`.
    pub offset_of_max_timestamp: i64,
    pub bytes_since_index_entry: u64,
    /// `now_ms` of the first append, for `segment.ms`.
    pub first_append_ms: Option<i64>,
    pub active: bool,
    /// Drop-behind of appends (`page_cache.rs`): writeback has been started
    /// below this position...
    pub written_back_to: u64,
    /// ...and pages below this one have been dropped from the page cache.
    pub evicted_to: u64,
    /// Drop-behind of reads: the reader position of the last look
    /// ([`NO_READ_YET`] before one).
    pub read_job_at: AtomicU64,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("base_offset", &self.base_offset)
            .field("next_offset", &self.next_offset)
            .field("data_end", &self.data_end)
            .field("active", &self.active)
            .finish()
    }
}

impl Segment {
    /// Creates a new, empty active segment. On failure (e.g. `ENOSPC` while
    /// reserving the indexes) every file it created is removed again.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
    ) -> Result<Segment, StorageError> {
        let result = Segment::create_files(dir, base_offset, config);
        if result.is_err() {
            for extension in ["log", "index", "timeindex"] {
                let _ = fs::remove_file(segment_file(dir, base_offset, extension));
            }
        }
        result
    }

    fn create_files(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
    ) -> Result<Segment, StorageError> {
        let log_path = segment_file(dir, base_offset, "log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .at(&log_path)?;
        let offset_index = OffsetIndex(IndexFile::open_writable(
            &segment_file(dir, base_offset, "index"),
            OFFSET_ENTRY_BYTES,
            0,
            config.segment_index_bytes,
            config.index_preallocate_step_bytes,
        )?);
        let time_index = TimeIndex(IndexFile::open_writable(
            &segment_file(dir, base_offset, "timeindex"),
            TIME_ENTRY_BYTES,
            0,
            config.segment_index_bytes,
            config.index_preallocate_step_bytes,
        )?);
        Ok(Segment::assemble(
            dir,
            base_offset,
            file,
            0,
            offset_index,
            time_index,
        ))
    }

    /// Puts a segment together from open files; `file_len` is the file's size,
    /// which is also taken as the data end until recovery says otherwise.
    pub fn assemble(
        dir: &Path,
        base_offset: i64,
        file: File,
        file_len: u64,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
    ) -> Segment {
        Segment {
            base_offset,
            dir: dir.to_owned(),
            file,
            guard: Arc::new(RetireGuard::default()),
            mapping: Bytes::new(),
            data_end: file_len,
            reserved: file_len,
            offset_index,
            time_index,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            bytes_since_index_entry: 0,
            first_append_ms: None,
            active: true,
            written_back_to: 0,
            evicted_to: 0,
            read_job_at: AtomicU64::new(NO_READ_YET),
        }
    }

    /// Path of the `.log` file.
    pub fn log_path(&self) -> PathBuf {
        segment_file(&self.dir, self.base_offset, "log")
    }

    /// Maps `[0, len)` of the log file for readers.
    pub fn remap(&mut self, len: u64) -> Result<(), StorageError> {
        self.mapping =
            mapped::map_log(&self.file, len, Arc::clone(&self.guard)).at(&self.log_path())?;
        Ok(())
    }

    /// Bytes of valid data.
    pub fn size(&self) -> u64 {
        self.data_end
    }

    /// Whether the segment holds no batch.
    pub fn is_empty(&self) -> bool {
        self.data_end == 0
    }

    /// Whether appending `incoming_bytes` ending at `last_offset` at `now_ms` must
    /// go to a new segment: `segment.bytes`, `segment.ms`, a full index, or a
    /// relative offset that no longer fits 32 bits.
    pub fn should_roll(
        &self,
        incoming_bytes: u64,
        last_offset: i64,
        now_ms: i64,
        config: &LogConfig,
    ) -> bool {
        if self.is_empty() {
            return false;
        }
        let too_big = self.data_end + incoming_bytes > config.segment_bytes;
        let too_old = self
            .first_append_ms
            .is_some_and(|first| now_ms.saturating_sub(first) >= config.segment_ms);
        // The time index keeps one slot for the entry written at seal time.
        let index_full = self.offset_index.0.is_full()
            || self.time_index.0.len() + 1 >= self.time_index.0.max_entries();
        let offset_overflow = last_offset - self.base_offset > i64::from(u32::MAX);
        let position_overflow = self.data_end + incoming_bytes > u64::from(u32::MAX);
        too_big || too_old || index_full || offset_overflow || position_overflow
    }

    /// Makes sure the file is reserved up to `end` and the mapping covers it.
    fn reserve_to(&mut self, end: u64, config: &LogConfig) -> Result<(), StorageError> {
        if end <= self.reserved {
            return Ok(());
        }
        let target = next_log_reservation(self.reserved, end, config);
        mapped::reserve(&self.file, self.reserved, target - self.reserved).at(&self.log_path())?;
        // Only once the mapping covers it does the space count as reserved, so a
        // failed remap is retried and data never outruns the mapping.
        self.remap(target)?;
        self.reserved = target;
        Ok(())
    }

    /// Writes validated batches (offsets already assigned) at the data end and
    /// indexes them. On error the segment's visible state is unchanged.
    pub fn append(
        &mut self,
        bytes: &[u8],
        batches: &[CheckedBatch],
        now_ms: i64,
        config: &LogConfig,
    ) -> Result<u64, StorageError> {
        debug_assert!(self.active, "append to a sealed segment");
        let position = self.data_end;
        let end = position + bytes.len() as u64;
        self.reserve_to(end, config)?;
        self.reserve_index_room(batches.iter().map(|b| b.header.size() as u64), config)?;
        self.file
            .write_all_at(bytes, position)
            .at(&self.log_path())?;
        for batch in batches {
            self.index_batch(
                position + batch.position as u64,
                &batch.header,
                batch.max_timestamp_delta,
                config,
            );
        }
        self.data_end = end;
        self.first_append_ms.get_or_insert(now_ms);
        self.drop_behind_appends(config.page_cache_window_bytes);
        Ok(position)
    }

    /// Once the data end has moved a step past the last job, queues writeback of
    /// everything more than half a `window` behind it and the eviction of
    /// everything more than a whole `window` behind (written back by an earlier
    /// job). `0` leaves the page cache to the kernel.
    fn drop_behind_appends(&mut self, window: u64) {
        if window == 0 {
            return;
        }
        let write_back_to = page_cache::align_down(self.data_end.saturating_sub(window / 2));
        if write_back_to < self.written_back_to + page_cache::step(window) {
            return;
        }
        let evict_to =
            page_cache::align_down(self.data_end.saturating_sub(window)).max(self.evicted_to);
        let queued = self.queue_page_job(
            0..0,
            self.evicted_to..evict_to,
            self.written_back_to..write_back_to,
        );
        if queued {
            self.evicted_to = evict_to;
            self.written_back_to = write_back_to;
        }
    }

    /// Queues a [`page_cache::Job`] on this segment's `.log`; `false` when it
    /// could not (no second file handle, or a full queue).
    fn queue_page_job(
        &self,
        read_ahead: std::ops::Range<u64>,
        evict: std::ops::Range<u64>,
        write_back: std::ops::Range<u64>,
    ) -> bool {
        let Ok(file) = self.file.try_clone() else {
            return false;
        };
        page_cache::submit(page_cache::Job {
            file,
            mapping: self.mapping.clone(),
            read_ahead,
            evict,
            write_back,
        })
    }

    /// After the roll that sealed this segment: queues the eviction of all but
    /// its last step, which a reader at the log end may still be finishing.
    pub fn drop_behind_sealed(&mut self, window: u64) {
        if window == 0 {
            return;
        }
        let evict_to =
            page_cache::align_down(self.data_end.saturating_sub(page_cache::step(window)));
        if evict_to <= self.evicted_to {
            return;
        }
        if self.queue_page_job(0..0, self.evicted_to..evict_to, 0..0) {
            self.evicted_to = evict_to;
        }
    }

    /// A reader is at `position`. Unless it is within a `window` of an active
    /// segment's end (cached, and dropped behind by the appends), each time a
    /// reader going forward has moved one to three steps since the last look,
    /// this queues: reading the next two steps ahead of it from disk, so the
    /// broker's threads rarely wait for the disk in a page fault, and the
    /// eviction of what it passed, up to a step behind it. Any other move (the
    /// first read, a seek back, a jump ahead: random access) only records the
    /// position, so scattered reads never read ahead or evict.
    pub fn drop_behind_read(&self, position: u64, window: u64) {
        if window == 0 || (self.active && position.saturating_add(window) > self.data_end) {
            return;
        }
        let step = page_cache::step(window);
        let last = self.read_job_at.load(Ordering::Relaxed);
        let sequential = last != NO_READ_YET
            && position >= last.saturating_add(step)
            && position <= last.saturating_add(3 * step);
        if !sequential {
            if last == NO_READ_YET || position < last || position > last.saturating_add(3 * step) {
                self.read_job_at.store(position, Ordering::Relaxed);
            }
            return;
        }
        let claimed = self
            .read_job_at
            .compare_exchange(last, position, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        if !claimed {
            return;
        }
        // What this reader passed since its last look (not more: a jump
        // must not evict what it never read).
        let from = page_cache::align_down(last.saturating_sub(step));
        let to = page_cache::align_down(position.saturating_sub(step));
        self.queue_page_job(
            page_cache::align_down(position)..position.saturating_add(2 * step).min(self.data_end),
            from..to,
            0..0,
        );
    }

    /// Makes sure both indexes have reserved, mapped room for every entry that
    /// indexing batches of `batch_sizes` next can add, and the time index one
    /// more for its entry at seal, so that a full disk fails here, before the
    /// batches are written, and [`Segment::index_batch`] cannot fail.
    pub fn reserve_index_room(
        &mut self,
        batch_sizes: impl IntoIterator<Item = u64>,
        config: &LogConfig,
    ) -> Result<(), StorageError> {
        let mut bytes_since_index_entry = self.bytes_since_index_entry;
        let mut entries = 0usize;
        for size in batch_sizes {
            if bytes_since_index_entry >= config.index_interval_bytes {
                entries += 1;
                bytes_since_index_entry = 0;
            }
            bytes_since_index_entry += size;
        }
        self.offset_index.0.reserve_entries(entries)?;
        self.time_index.0.reserve_entries(entries + 1)
    }

    /// Accounts one batch at `position` in the indexes and the segment's summary.
    /// The caller reserved index room first ([`Segment::reserve_index_room`]).
    pub fn index_batch(
        &mut self,
        position: u64,
        header: &BatchHeader,
        max_timestamp_delta: i32,
        config: &LogConfig,
    ) {
        debug_assert_eq!(
            header.base_offset, self.next_offset,
            "offsets must be dense"
        );
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.base_offset + i64::from(max_timestamp_delta);
        }
        let relative = (header.base_offset - self.base_offset) as u32;
        if self.bytes_since_index_entry >= config.index_interval_bytes
            && !self.offset_index.0.is_full()
        {
            self.offset_index.push(relative, position as u32);
            if self.time_index.0.len() + 1 < self.time_index.0.max_entries() {
                let relative_max = (self.offset_of_max_timestamp - self.base_offset) as u32;
                self.time_index.push(self.max_timestamp, relative_max);
            }
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += header.size() as u64;
        self.next_offset = header.last_offset() + 1;
    }

    /// The valid data.
    pub fn data(&self) -> &[u8] {
        &self.mapping[..self.data_end as usize]
    }

    /// Position of the batch containing `offset`, or `None` when the offset is
    /// past this segment. Starts from the index and walks batch headers.
    pub fn position_of(&self, offset: i64) -> Option<u64> {
        if offset >= self.next_offset {
            return None;
        }
        let relative = (offset.max(self.base_offset) - self.base_offset) as u32;
        let mut position = self.offset_index.lookup(relative) as usize;
        let data = self.data();
        while let Some(header) = batch::header_within(data, position) {
            if header.last_offset() >= offset {
                return Some(position as u64);
            }
            position += header.size();
        }
        None
    }

    /// Whole batches from `position`: the first one always (KIP-74), then more
    /// while they fit `max_bytes`, stopping before any batch at/after `max_offset`.
    /// Returns the zero-copy slice and whether a limit stopped it.
    pub fn slice_from(
        &self,
        position: u64,
        max_bytes: usize,
        max_offset: i64,
        first: bool,
    ) -> (Bytes, bool) {
        let data = self.data();
        let start = position as usize;
        let mut end = start;
        let mut stopped = false;
        while let Some(header) = batch::header_within(data, end) {
            if header.base_offset >= max_offset {
                stopped = true;
                break;
            }
            let taken = end - start;
            if taken + header.size() > max_bytes && !(first && taken == 0) {
                stopped = true;
                break;
            }
            end += header.size();
        }
        (self.mapping.slice(start..end), stopped)
    }

    /// Writes the log and both indexes to disk (fdatasync, msync).
    pub fn sync(&self) -> Result<(), StorageError> {
        self.file.sync_data().at(&self.log_path())?;
        self.offset_index.0.sync()?;
        self.time_index.0.sync()
    }

    /// Handles to fsync this (sealed) segment from another thread, so a roll
    /// does not stall appends while a whole segment is written back.
    pub fn background_sync(&self) -> Result<SegmentSync, StorageError> {
        let log_path = self.log_path();
        Ok(SegmentSync {
            files: vec![
                (log_path.clone(), self.file.try_clone().at(&log_path)?),
                (
                    self.offset_index.0.path().to_owned(),
                    self.offset_index.0.try_clone_file()?,
                ),
                (
                    self.time_index.0.path().to_owned(),
                    self.time_index.0.try_clone_file()?,
                ),
            ],
        })
    }

    /// Seals the segment: records its max timestamp in the time index and trims
    /// the log and indexes to their real size. Does not fsync: the caller syncs
    /// (in the background after a roll, inline on flush and close). Readers keep
    /// their `Bytes`: they never reach past the data end, which the trim keeps.
    pub fn seal(&mut self) -> Result<(), StorageError> {
        if self.max_timestamp >= 0 && !self.time_index.0.is_full() {
            let relative = (self.offset_of_max_timestamp - self.base_offset) as u32;
            // A no-op: appends keep this slot reserved.
            self.time_index.0.reserve_entries(1)?;
            self.time_index.push(self.max_timestamp, relative);
        }
        self.file.set_len(self.data_end).at(&self.log_path())?;
        self.reserved = self.data_end;
        self.offset_index.0.seal()?;
        self.time_index.0.seal()?;
        self.remap(self.data_end)?;
        self.active = false;
        Ok(())
    }

    /// Removes the segment: indexes now, the `.log` once its last reader drops.
    /// The rename happens first so a restart never resurrects the data.
    pub fn retire(self) -> Result<(), StorageError> {
        let log_path = self.log_path();
        let mut doomed = log_path.clone().into_os_string();
        doomed.push(DELETED_SUFFIX);
        let doomed = PathBuf::from(doomed);
        fs::rename(&log_path, &doomed).at(&log_path)?;
        self.guard.doom(doomed);
        for path in [
            self.offset_index.0.path().to_owned(),
            self.time_index.0.path().to_owned(),
        ] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(path, e)),
            }
        }
        Ok(())
    }

    /// Rewrites the log file to keep only `[0, position)`: the prefix goes to a new
    /// file that is renamed over the old one, so mappings of the old inode stay
    /// valid for readers. The indexes are deleted; the caller reopens the segment.
    pub fn rewrite_prefix(self, position: u64) -> Result<(), StorageError> {
        let log_path = self.log_path();
        let temp = segment_file(&self.dir, self.base_offset, "log.truncating");
        let new = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .at(&temp)?;
        new.write_all_at(&self.mapping[..position as usize], 0)
            .at(&temp)?;
        new.sync_all().at(&temp)?;
        fs::rename(&temp, &log_path).at(&log_path)?;
        for path in [
            self.offset_index.0.path().to_owned(),
            self.time_index.0.path().to_owned(),
        ] {
            let _ = fs::remove_file(path);
        }
        Ok(())
    }
}
