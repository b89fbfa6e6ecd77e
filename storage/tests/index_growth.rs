//! The active segment's indexes start at one `index_preallocate_step_bytes` and
//! grow in `fallocate`d steps up to `segment.index.bytes`: an idle partition
//! reserves little disk, and lookups stay right across every growth step.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sluice_storage::testing::{batch_bytes, batch_offsets};
use sluice_storage::{Log, LogConfig};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIRST_INDEX: &str = "00000000000000000000.index";
const FIRST_TIME_INDEX: &str = "00000000000000000000.timeindex";

/// Bytes `stat` counts in `st_blocks` units.
const STAT_BLOCK_BYTES: u64 = 512;

/// Every batch indexed, growth steps of 8 offset entries (5 time entries).
fn growing_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 64 * 1024,
        index_interval_bytes: 0,
        index_preallocate_step_bytes: 64,
        ..LogConfig::default()
    }
}

fn len(path: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(fs::metadata(path)?.len())
}

/// Appends batches `range`: batch `i` holds 2 records, offsets `2i` and
/// `2i + 1`, stamped `1000 + 10i` and `+1`.
fn append_batches(log: &mut Log, range: std::ops::Range<usize>) -> TestResult {
    for i in range {
        log.append(&mut batch_bytes(0, 2, 1_000 + i as i64 * 10), 0, 0)?;
    }
    Ok(())
}

fn check_lookups(log: &Log, count: usize) -> TestResult {
    for offset in 0..(2 * count as i64) {
        let slice = log.read(offset, 1, i64::MAX)?;
        let first = slice
            .chunks()
            .first()
            .and_then(|chunk| batch_offsets(chunk).first().copied());
        assert_eq!(
            first,
            Some((offset - offset % 2, offset - offset % 2 + 1)),
            "read of offset {offset} starts at its batch"
        );
    }
    for i in 0..count as i64 {
        let found = log.offset_for_timestamp(1_000 + i * 10 + 1)?;
        assert_eq!(
            found.map(|t| (t.timestamp, t.offset)),
            Some((1_000 + i * 10 + 1, 2 * i + 1)),
            "time lookup of batch {i}"
        );
    }
    Ok(())
}

#[test]
fn new_empty_partition_reserves_at_most_one_index_step_of_disk() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig::default();
    let step = config.index_preallocate_step_bytes;
    let log = Log::open(dir.path(), config)?;
    for name in [FIRST_INDEX, FIRST_TIME_INDEX] {
        let metadata = fs::metadata(dir.path().join(name))?;
        assert!(
            metadata.len() <= step,
            "{name} is {} bytes long, more than one step of {step}",
            metadata.len()
        );
        assert!(
            metadata.blocks() * STAT_BLOCK_BYTES <= step,
            "{name} holds {} bytes of disk, more than one step of {step}",
            metadata.blocks() * STAT_BLOCK_BYTES
        );
    }
    drop(log);
    Ok(())
}

#[test]
fn appends_grow_the_indexes_in_steps_and_lookups_stay_correct() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), growing_config())?;
    let (index, time_index) = (
        dir.path().join(FIRST_INDEX),
        dir.path().join(FIRST_TIME_INDEX),
    );
    assert_eq!((len(&index)?, len(&time_index)?), (64, 60), "one step each");

    append_batches(&mut log, 0..300)?;
    let (index_len, time_len) = (len(&index)?, len(&time_index)?);
    assert_eq!(index_len % 64, 0, "the offset index grew by whole steps");
    assert_eq!(time_len % 60, 0, "the time index grew by whole steps");
    assert!(
        (300 * 8..=(300 + 8) * 8).contains(&index_len),
        "{index_len} bytes hold 300 offset entries and at most a step more"
    );
    assert!(
        ((300 + 1) * 12..=(300 + 1 + 5) * 12).contains(&time_len),
        "{time_len} bytes hold 300 time entries, the seal slot and at most a step more"
    );
    check_lookups(&log, 300)
}

#[test]
fn grown_indexes_reopen_correctly_after_a_clean_close_and_a_crash() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), growing_config())?;
    append_batches(&mut log, 0..100)?;
    log.close()?;
    assert_eq!(
        len(&dir.path().join(FIRST_INDEX))?,
        100 * 8,
        "a clean close trims the grown index to its entries"
    );

    let mut log = Log::open(dir.path(), growing_config())?;
    check_lookups(&log, 100)?;
    append_batches(&mut log, 100..200)?;
    check_lookups(&log, 200)?;
    drop(log); // unclean: the indexes are rebuilt, growing again

    let log = Log::open(dir.path(), growing_config())?;
    check_lookups(&log, 200)
}

#[test]
fn segment_rolls_when_an_index_would_exceed_segment_index_bytes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        // 10 offset entries or 6 time entries (one kept for the seal entry).
        segment_index_bytes: 80,
        index_preallocate_step_bytes: 16,
        ..growing_config()
    };
    let mut log = Log::open(dir.path(), config)?;
    append_batches(&mut log, 0..20)?;
    let mut sealed_indexes = 0;
    for entry in fs::read_dir(dir.path())? {
        let path = entry?.path();
        let extension = path.extension().and_then(|e| e.to_str());
        if matches!(extension, Some("index" | "timeindex")) {
            assert!(
                len(&path)? <= 80,
                "{} exceeds segment.index.bytes",
                path.display()
            );
            sealed_indexes += usize::from(extension == Some("index"));
        }
    }
    assert!(
        sealed_indexes >= 4,
        "20 batches at 5 per segment roll at least 3 times"
    );
    check_lookups(&log, 20)
}
