//! Sluice's partition log: segmented, memory-mapped and crash-safe.
//!
//! A [`Log`] is one partition: a directory of segments holding Kafka
//! RecordBatch v2 bytes exactly as produced (after the leader wrote the base
//! offset and leader epoch into the header). A [`LogManager`] owns a data
//! directory: it locks it, opens every partition at start with
//! `num.recovery.threads.per.data.dir` threads (which also scan a partition's
//! unflushed segments in parallel), and creates and deletes logs. Storage is synchronous, depends on no async runtime
//! and on no other Sluice crate.
//!
//! # Contents
//!
//! | module | concept |
//! |---|---|
//! | `config` | [`LogConfig`]: Kafka's topic-level names, defaults and `set`/`entries` for configs requests |
//! | `batch`, `records` | storage's own RecordBatch v2 header parser and the checks made before anything is written |
//! | `segment` | one segment: reserve, write, seal, retire |
//! | `index` | the mmap'd `.index` and `.timeindex` and their binary searches |
//! | `load`, `recovery` | opening a partition: leftovers, trusted vs scanned segments (scanned in parallel, `num.recovery.threads.per.data.dir`), cutting torn tails, rebuilding indexes |
//! | `scan` | the recovery scan's reads: large sequential (`O_DIRECT` where possible) reads into one reused buffer |
//! | `log` | [`Log`]: open, append, read, flush policy, checkpoints, close |
//! | `lookup` | ListOffsets: offset for a timestamp, the max timestamp |
//! | `retention` | truncation, DeleteRecords, retention by time and size |
//! | `checkpoint`, `metadata` | our small crash-safe files (CRC-32, temp + fsync + rename) |
//! | `manager` | [`LogManager`], [`TopicPartition`] |
//! | `page_cache` | drop-behind: each log keeps only the tail of its active segment in the page cache |
//! | `mapped` | the `unsafe` of mmap, `fallocate`, `sync_file_range`, `madvise` and `posix_fadvise` |
//! | `disk_space` | [`disk_space`]: filesystem size and usable bytes (`statvfs`, the crate's other `unsafe`) |
//! | `fetch` | [`FetchSlice`], zero-copy read results |
//!
//! # Example
//!
//! ```
//! use sluice_storage::{Log, LogConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut log = Log::open(dir.path(), LogConfig::default())?;
//! // Bytes of one RecordBatch v2 with 3 records, as a producer sends them.
//! let mut batch = sluice_storage::testing::batch_bytes(0, 3, 1_700_000_000_000);
//! let info = log.append(&mut batch, 0, 1_700_000_000_500)?;
//! assert_eq!((info.base_offset, info.last_offset), (0, 2));
//! log.set_high_watermark(info.last_offset + 1);
//! let fetched = log.read(0, 1 << 20, log.high_watermark())?;
//! assert_eq!(fetched.len(), batch.len()); // zero-copy slices of the segment
//! log.close()?;
//! # Ok(()) }
//! ```
//!
//! # On disk
//!
//! ```text
//! <data>/.lock                              flock'ed while a LogManager lives
//! <data>/meta.properties                    format version (CRC-32 line)
//! <data>/<topic>-<partition>/
//!     00000000000000000000.log              RecordBatch v2 bytes back to back
//!     00000000000000000000.index            (u32 relative offset, u32 position), big-endian
//!     00000000000000000000.timeindex        (i64 timestamp, u32 relative offset), big-endian
//!     recovery-point-offset-checkpoint      recovery point, high watermark, log start (CRC-32)
//!     partition.metadata                    topic id and topic config overrides (CRC-32)
//!     .clean-shutdown                       present only between a clean close and the next open
//! ```
//!
//! Segment files are named by their base offset, 20 digits. The active
//! segment's `.log` grows by `fallocate` reservations that follow what it
//! receives (`preallocate_initial_bytes` first, then doubling up to steps of
//! `preallocate_step_bytes`) and so do its indexes (a page first, up to steps
//! of `index_preallocate_step_bytes` and `segment.index.bytes` in all), so an
//! idle partition reserves little disk; all three
//! are trimmed to their real size when the segment is sealed (roll or clean
//! close). A
//! `.index` entry is added every `index.interval.bytes`; a `.timeindex` entry
//! records where the segment's running maximum timestamp rose.
//!
//! # Guarantees (DESIGN.md section 3)
//!
//! 1. Offsets are dense and strictly increasing; the leader assigns them at append.
//! 2. After a crash at any byte, [`Log::open`] yields a prefix of what was
//!    written: each batch is checked by length, magic, CRC-32C and offset
//!    continuity from the recovery point on; the first bad one and everything
//!    after it are cut (the file is truncated, so nothing cut can reappear);
//!    indexes are rebuilt when missing or disagreeing with the log.
//! 3. What was acknowledged survives a process kill (it is in the page cache);
//!    what was flushed survives a machine crash. Flushes happen by policy
//!    (`flush.messages`, `flush.ms`), on [`Log::flush`] and [`Log::close`], and for
//!    every rolled segment in a background thread (as Kafka does), after which the
//!    recovery point moves past that segment and is checkpointed, so a crash
//!    rescans only what came after.
//! 4. A mapped byte is never truncated away while a reader can reach it:
//!    truncation rewrites the kept prefix into a new file and renames it over;
//!    retired segments are renamed to `.deleted` and unlinked when the last
//!    [`FetchSlice`] over them drops. Space is reserved with `fallocate`, so a
//!    full disk is an `ENOSPC` error ([`StorageError::is_disk_full`]), never a
//!    `SIGBUS`, and appends work again once space is freed.
//! 5. Retention deletes whole sealed segments only, never the active one and
//!    never data at or above the high watermark.
//!
//! # Using it from tokio
//!
//! Put each [`Log`] behind a `std::sync::Mutex` and keep the critical sections
//! short. [`Log::read`] only walks mapped memory (index entries and a few batch
//! headers) and can run on a runtime thread; the returned [`FetchSlice`] stays
//! valid after the lock is released, so write it to the socket outside the
//! lock. Data that is not in the page cache is read from disk by a page fault
//! when first touched: a broker serving old data may copy it out in
//! `spawn_blocking` instead. [`Log::append`] validates the
//! batches and `pwrite`s them into the page cache (microseconds for a 16 KiB
//! batch); a roll creates three files and hands the old segment's fsync to a
//! background thread. It still blocks when the flush policy is due
//! (`flush.messages`, `flush.ms`; both off by default) and when the kernel
//! throttles writers because too much of the page cache is dirty, so run appends
//! in `tokio::task::spawn_blocking` (or on one thread per disk fed by a channel),
//! never directly on a runtime worker. Run [`Log::flush`],
//! [`Log::close`], [`Log::truncate_to`], [`Log::enforce_retention`],
//! [`LogManager::open`] and [`LogManager::shutdown`] there (or on a dedicated
//! thread): they fsync or scan.
#![deny(missing_docs)]

mod batch;
mod checkpoint;
mod config;
mod disk_space;
mod error;
mod fetch;
mod index;
mod load;
mod log;
mod lookup;
mod manager;
mod mapped;
mod metadata;
pub mod page_cache;
mod records;
mod recovery;
mod retention;
mod scan;
mod segment;
pub mod testing;

pub use batch::VerifiedBatch;
pub use config::{CleanupPolicy, LogConfig, TimestampType};
pub use disk_space::{DiskSpace, disk_space};
pub use error::{ConfigError, StorageError};
pub use fetch::FetchSlice;
pub use log::{AppendInfo, Log};
pub use lookup::TimestampOffset;
pub use manager::{LogManager, TopicPartition};
pub use metadata::PartitionMetadata;
pub use retention::RetentionOutcome;
