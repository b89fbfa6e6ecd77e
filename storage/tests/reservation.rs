//! Disk reserved per partition follows what the partition receives: an active
//! segment's `.log` starts with a small reservation (the first batch rounded up
//! to a page, at least `preallocate_initial_bytes`) and each next reservation
//! doubles the file, up to steps of `preallocate_step_bytes`; its indexes start
//! at a page and double the same way up to `index_preallocate_step_bytes`. So
//! thousands of partitions that hold little take little disk, while a busy
//! partition still reserves big steps (and a full disk is still an `ENOSPC`
//! error: `disk_full.rs`). Disk use is measured as allocated blocks
//! (`st_blocks`), not file lengths.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sluice_storage::testing::{batch_bytes, batch_with_values};
use sluice_storage::{Log, LogConfig, LogManager, TopicPartition};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIRST_LOG: &str = "00000000000000000000.log";

/// Bytes `stat` counts in `st_blocks` units.
const STAT_BLOCK_BYTES: u64 = 512;

/// Bytes of disk allocated to every file and directory under `path`.
fn allocated_bytes(path: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let metadata = fs::symlink_metadata(path)?;
    let mut total = metadata.blocks() * STAT_BLOCK_BYTES;
    if metadata.is_dir() {
        for entry in fs::read_dir(path)? {
            total += allocated_bytes(&entry?.path())?;
        }
    }
    Ok(total)
}

fn log_len(dir: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(fs::metadata(dir.join(FIRST_LOG))?.len())
}

/// Threads creating the partitions of the wide-topic test.
const CREATING_THREADS: i32 = 8;

/// Creates `wide`-`partition` and appends one small batch to it.
fn create_with_one_batch(manager: &LogManager, partition: i32) -> Result<Log, String> {
    let tp = TopicPartition {
        topic: "wide".to_owned(),
        partition,
    };
    let mut log = manager
        .create_log(&tp, LogConfig::default())
        .map_err(|e| e.to_string())?;
    log.append(&mut batch_with_values(0, 1, 1_000, 100), 0, 1_000)
        .map_err(|e| e.to_string())?;
    Ok(log)
}

/// The broker's case from issue 21: one CreateTopics of 2,000 partitions with
/// the default config, then one small batch produced to each. Before, every
/// active segment reserved 16 MiB and each index 64 KiB: 32 GiB in all.
#[test]
#[allow(
    clippy::print_stderr,
    reason = "the README quotes the figure this test measures"
)]
fn two_thousand_partitions_with_one_small_batch_each_take_little_disk() -> TestResult {
    const PARTITIONS: i32 = 2_000;
    const LIMIT_BYTES: u64 = 100 * 1024 * 1024;
    let data = tempfile::tempdir()?;
    let (manager, _) = LogManager::open(data.path(), LogConfig::default())?;
    // Creating a log waits for fsyncs, so several threads create them.
    let logs = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CREATING_THREADS)
            .map(|worker| {
                let manager = &manager;
                scope.spawn(move || {
                    (worker..PARTITIONS)
                        .step_by(CREATING_THREADS as usize)
                        .map(|partition| create_with_one_batch(manager, partition))
                        .collect::<Result<Vec<Log>, String>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .map_err(|_| "a creating thread panicked".to_owned())?
            })
            .collect::<Result<Vec<Vec<Log>>, String>>()
    })?;
    assert_eq!(
        logs.iter().map(Vec::len).sum::<usize>(),
        PARTITIONS as usize
    );
    let allocated = allocated_bytes(data.path())?;
    eprintln!(
        "{PARTITIONS} partitions with one {}-byte batch each: {allocated} bytes allocated \
         ({} KiB per partition)",
        batch_with_values(0, 1, 1_000, 100).len(),
        allocated / PARTITIONS as u64 / 1024
    );
    assert!(
        allocated <= LIMIT_BYTES,
        "{PARTITIONS} nearly empty partitions hold {allocated} bytes of disk"
    );
    let per_partition = LogConfig::default().partition_initial_reservation_bytes();
    assert!(
        allocated <= per_partition * PARTITIONS as u64,
        "the estimate the broker checks free space with ({per_partition} bytes per partition) \
         covers what {PARTITIONS} partitions really took ({allocated} bytes)"
    );
    drop(logs);
    Ok(())
}

/// 1,000-byte steps, so the file's reservations are easy to follow.
fn steady_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 20,
        preallocate_initial_bytes: 4096,
        preallocate_step_bytes: 64 * 1024,
        ..LogConfig::default()
    }
}

#[test]
fn a_partition_that_receives_steadily_doubles_its_reservation_up_to_the_step() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = steady_config();
    let mut log = Log::open(dir.path(), config.clone())?;
    let mut sizes = vec![log_len(dir.path())?];
    let mut data_bytes = 0u64;
    for i in 0..600 {
        let mut batch = batch_with_values(0, 1, 1_000 + i, 1_000);
        data_bytes += batch.len() as u64;
        log.append(&mut batch, 0, 1_000)?;
        let len = log_len(dir.path())?;
        assert!(len >= data_bytes, "the data is inside the reservation");
        if sizes.last() != Some(&len) {
            sizes.push(len);
        }
    }
    assert!(data_bytes > 512 * 1024, "the test wrote past eight steps");
    let grown_by: Vec<u64> = sizes.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        &grown_by[..5],
        &[4096, 4096, 8192, 16 * 1024, 32 * 1024],
        "the first reservation is one page, then each doubles the file"
    );
    assert!(
        grown_by[5..].iter().all(|&step| step == 64 * 1024),
        "once the file is a step long it grows by whole steps: {grown_by:?}"
    );
    let allocated = fs::metadata(dir.path().join(FIRST_LOG))?.blocks() * STAT_BLOCK_BYTES;
    assert!(
        allocated <= data_bytes + config.preallocate_step_bytes,
        "at most one step is reserved beyond the data ({allocated} for {data_bytes})"
    );
    Ok(())
}

#[test]
fn the_first_reservation_is_the_first_batch_rounded_up_to_a_page() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), steady_config())?;
    assert_eq!(log_len(dir.path())?, 0, "an empty log reserves nothing");
    let mut batch = batch_with_values(0, 10, 1_000, 1_000);
    assert!(batch.len() > 8192 && batch.len() < 12_288);
    log.append(&mut batch, 0, 1_000)?;
    assert_eq!(log_len(dir.path())?, 12_288);
    Ok(())
}

#[test]
fn the_reservation_never_passes_segment_bytes_unless_a_batch_does() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        segment_bytes: 6_000,
        ..steady_config()
    };
    let mut log = Log::open(dir.path(), config)?;
    log.append(&mut batch_with_values(0, 1, 1_000, 3_000), 0, 1_000)?;
    assert_eq!(log_len(dir.path())?, 4096);
    log.append(&mut batch_with_values(0, 1, 1_000, 1_000), 0, 1_000)?;
    assert_eq!(
        log_len(dir.path())?,
        6_000,
        "doubling stops at segment.bytes"
    );
    Ok(())
}

#[test]
fn a_rolled_segment_is_trimmed_to_its_data() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        segment_bytes: 20_000,
        ..steady_config()
    };
    let mut log = Log::open(dir.path(), config)?;
    let mut first_segment_bytes = 0;
    for i in 0..30 {
        let mut batch = batch_with_values(0, 1, 1_000 + i, 1_000);
        let len = batch.len() as u64;
        if first_segment_bytes + len <= 20_000 {
            first_segment_bytes += len;
        }
        log.append(&mut batch, 0, 1_000)?;
    }
    let metadata = fs::metadata(dir.path().join(FIRST_LOG))?;
    assert_eq!(
        metadata.len(),
        first_segment_bytes,
        "trimmed to its batches"
    );
    assert!(
        metadata.blocks() * STAT_BLOCK_BYTES <= first_segment_bytes.next_multiple_of(4096),
        "no reserved block is left past the data"
    );
    Ok(())
}

#[test]
fn a_reopened_partition_doubles_from_its_data_size() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), steady_config())?;
    for i in 0..20 {
        log.append(&mut batch_with_values(0, 1, 1_000 + i, 1_000), 0, 1_000)?;
    }
    log.close()?;
    let data_bytes = log_len(dir.path())?;
    let mut log = Log::open(dir.path(), steady_config())?;
    log.append(&mut batch_bytes(0, 1, 5_000), 0, 1_000)?;
    assert_eq!(
        log_len(dir.path())?,
        (2 * data_bytes).next_multiple_of(4096),
        "the file doubles from what it held"
    );
    Ok(())
}
