//! Fast recovery after `kill -9` (DESIGN.md invariants 2 and 3): rolled
//! segments are checkpointed once fsynced, so a crash rescans only what came
//! after; segments past the recovery point are scanned in parallel, with the
//! same result as one thread; torn data is still cut and never comes back.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use sluice_storage::testing::{append_batches, read_all_offsets, segment_count, small_config};
use sluice_storage::{Log, LogConfig};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";

/// The recovery point stored in a partition's checkpoint file.
fn checkpointed_recovery_point(dir: &Path) -> Result<i64, Box<dyn std::error::Error>> {
    let text = fs::read_to_string(dir.join(CHECKPOINT_FILE))?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("recovery_point ")?.parse().ok())
        .ok_or("no recovery point in the checkpoint")?)
}

/// Base offsets of the segments in a partition directory, in order.
fn segment_bases(dir: &Path) -> Result<Vec<i64>, Box<dyn std::error::Error>> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".log") {
            bases.push(stem.parse()?);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

fn segment_path(dir: &Path, base: i64) -> std::path::PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// Every file of a directory by name, for comparing two recoveries.
fn files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, Box<dyn std::error::Error>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        files.insert(
            entry.file_name().to_string_lossy().into_owned(),
            fs::read(entry.path())?,
        );
    }
    Ok(files)
}

fn copy_dir(from: &Path, to: &Path) -> TestResult {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

fn with_threads(threads: usize) -> LogConfig {
    LogConfig {
        num_recovery_threads_per_data_dir: threads,
        ..small_config()
    }
}

/// A log of many small segments left as after a kill, with no checkpoint, so
/// that opening it scans every segment.
fn unclean_log_without_checkpoint(
    dir: &Path,
) -> Result<Vec<(i64, i64)>, Box<dyn std::error::Error>> {
    let mut log = Log::open(dir, small_config())?;
    append_batches(&mut log, 80, 3)?;
    let offsets = read_all_offsets(&log)?;
    drop(log);
    fs::remove_file(dir.join(CHECKPOINT_FILE))?;
    Ok(offsets)
}

#[test]
fn a_crash_after_rolls_recovers_from_the_rolled_segments_checkpoint_and_keeps_every_batch()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    // Enough rolls that the oldest background fsyncs are waited for (at most
    // four run at once), so the recovery point has surely moved.
    append_batches(&mut log, 80, 3)?;
    assert!(segment_count(dir.path()) > 6, "the test must roll often");
    let before = log.read(0, usize::MAX, i64::MAX)?.chunks().concat();
    let offsets = read_all_offsets(&log)?;
    drop(log); // as kill -9 leaves it: no close, no clean-shutdown marker

    let recovery_point = checkpointed_recovery_point(dir.path())?;
    assert!(
        recovery_point > 0,
        "a fsynced roll checkpoints the recovery point"
    );
    assert!(
        segment_bases(dir.path())?.contains(&recovery_point),
        "the recovery point is the base of a rolled segment"
    );

    let log = Log::open(dir.path(), small_config())?;
    assert_eq!(read_all_offsets(&log)?, offsets);
    assert_eq!(log.read(0, usize::MAX, i64::MAX)?.chunks().concat(), before);
    Ok(())
}

#[test]
fn parallel_recovery_yields_the_same_logs_as_serial() -> TestResult {
    let original = tempfile::tempdir()?;
    let offsets = unclean_log_without_checkpoint(original.path())?;
    // A torn tail in the active segment too: its last batch loses 7 bytes.
    let bases = segment_bases(original.path())?;
    let last = segment_path(original.path(), *bases.last().ok_or("no segment")?);
    let data_end = fs::read(&last)?
        .iter()
        .rposition(|byte| *byte != 0)
        .ok_or("empty active segment")?
        + 1;
    fs::OpenOptions::new()
        .write(true)
        .open(&last)?
        .set_len(data_end as u64 - 7)?;

    let (serial, parallel) = (tempfile::tempdir()?, tempfile::tempdir()?);
    copy_dir(original.path(), serial.path())?;
    copy_dir(original.path(), parallel.path())?;
    let serial_log = Log::open(serial.path(), with_threads(1))?;
    let parallel_log = Log::open(parallel.path(), with_threads(4))?;

    let recovered = read_all_offsets(&serial_log)?;
    assert_eq!(
        recovered,
        offsets[..offsets.len() - 1],
        "the torn batch is cut"
    );
    assert_eq!(read_all_offsets(&parallel_log)?, recovered);
    assert_eq!(
        parallel_log
            .read(0, usize::MAX, i64::MAX)?
            .chunks()
            .concat(),
        serial_log.read(0, usize::MAX, i64::MAX)?.chunks().concat()
    );
    assert_eq!(
        files(parallel.path())?,
        files(serial.path())?,
        "same segments, indexes and checkpoint on disk"
    );
    Ok(())
}

#[test]
fn parallel_recovery_cuts_a_damaged_middle_segment_and_never_resurrects_what_followed() -> TestResult
{
    let dir = tempfile::tempdir()?;
    let offsets = unclean_log_without_checkpoint(dir.path())?;
    let bases = segment_bases(dir.path())?;
    let middle = bases[bases.len() / 2];
    let path = segment_path(dir.path(), middle);
    let mut bytes = fs::read(&path)?;
    let garbled = bytes.len() - 5; // inside the segment's last batch
    bytes[garbled] ^= 0x5a;
    fs::write(&path, &bytes)?;

    let mut log = Log::open(dir.path(), with_threads(4))?;
    let kept = read_all_offsets(&log)?;
    assert!(!kept.is_empty() && kept.len() < offsets.len());
    assert_eq!(kept, offsets[..kept.len()], "a prefix is kept");
    assert!(
        kept.last()
            .is_some_and(|(_, last)| *last + 1 < bases[bases.len() / 2 + 1]),
        "the damaged batch and everything after it are gone"
    );
    assert!(
        segment_bases(dir.path())?
            .iter()
            .all(|base| *base <= middle)
    );

    // Appends continue densely, and a second crash and recovery bring back
    // nothing that was cut.
    let end = log.log_end_offset();
    append_batches(&mut log, 3, 2)?;
    let after_append = read_all_offsets(&log)?;
    assert_eq!(after_append.len(), kept.len() + 3);
    assert_eq!(after_append[kept.len()].0, end);
    drop(log);
    fs::remove_file(dir.path().join(CHECKPOINT_FILE))?;
    let log = Log::open(dir.path(), with_threads(4))?;
    assert_eq!(read_all_offsets(&log)?, after_append);
    Ok(())
}

#[test]
fn one_recovery_thread_still_opens_every_partition() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (manager, _) = sluice_storage::LogManager::open(dir.path(), with_threads(1))?;
    let mut expected = Vec::new();
    for partition in 0..5 {
        let tp = sluice_storage::TopicPartition::new("t", partition);
        let mut log = manager.create_log(&tp, small_config())?;
        append_batches(&mut log, 20 + partition as usize, 2)?;
        expected.push((tp, read_all_offsets(&log)?));
        drop(log); // unclean
    }
    drop(manager);
    let (_manager, logs) = sluice_storage::LogManager::open(dir.path(), with_threads(1))?;
    let opened: Vec<_> = logs
        .iter()
        .map(|(tp, log)| Ok((tp.clone(), read_all_offsets(log)?)))
        .collect::<Result<_, sluice_storage::StorageError>>()?;
    assert_eq!(opened, expected);
    Ok(())
}
