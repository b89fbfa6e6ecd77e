//! Removing data from a log: truncation, DeleteRecords and retention, and the
//! guarantee that readers keep their bytes (DESIGN.md invariants 2, 4, 5).

use sluice_storage::testing::{
    append_batches, batch_bytes, batch_offsets, read_all_offsets, segment_count, small_config,
};
use sluice_storage::{Log, LogConfig};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn truncate_to_removes_the_containing_batch_and_everything_after() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 60, 3)?;
    log.set_high_watermark(180);
    log.truncate_to(31)?;
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(log.high_watermark(), 30);
    assert_eq!(read_all_offsets(&log)?.last(), Some(&(27, 29)));
    assert_eq!(log.append(&mut batch_bytes(0, 1, 0), 2, 0)?.base_offset, 30);
    Ok(())
}

#[test]
fn invariant_4_readers_keep_their_bytes_across_truncation() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 60, 3)?;
    let held = log.read(0, usize::MAX, i64::MAX)?;
    let copy: Vec<Vec<u8>> = held.chunks().iter().map(|c| c.to_vec()).collect();
    log.truncate_to(3)?;
    log.append(&mut batch_bytes(0, 2, 0), 9, 0)?;
    let after: Vec<Vec<u8>> = held.chunks().iter().map(|c| c.to_vec()).collect();
    assert_eq!(
        after, copy,
        "a truncation never changes bytes a reader holds"
    );
    Ok(())
}

#[test]
fn invariant_2_truncated_data_is_not_resurrected_by_recovery() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 60, 3)?;
    log.flush()?;
    log.truncate_to(90)?;
    drop(log); // unclean
    let log = Log::open(dir.path(), small_config())?;
    assert_eq!(log.log_end_offset(), 90);
    Ok(())
}

#[test]
fn truncate_below_log_start_restarts_the_log_there() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 60, 3)?;
    log.set_high_watermark(180);
    log.enforce_retention(i64::MAX / 2)?;
    let start = log.log_start_offset();
    assert!(start > 0);
    log.truncate_to(start - 1)?;
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset()),
        (start - 1, start - 1)
    );
    Ok(())
}

#[test]
fn delete_records_moves_log_start_durably() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 60, 3)?;
    log.set_high_watermark(100);
    assert_eq!(
        log.delete_records_before(101)
            .err()
            .map(|e| e.kafka_error_code()),
        Some(1)
    );
    assert_eq!(log.delete_records_before(70)?, 70);
    assert_eq!(
        log.read(69, 10, i64::MAX)
            .err()
            .map(|e| e.kafka_error_code()),
        Some(1)
    );
    drop(log);
    let log = Log::open(dir.path(), small_config())?;
    assert_eq!(log.log_start_offset(), 70);
    assert_eq!(
        batch_offsets(&log.read(70, 1, i64::MAX)?.into_contiguous()),
        vec![(69, 71)]
    );
    Ok(())
}

#[test]
fn invariant_5_retention_by_size_deletes_sealed_segments_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        retention_bytes: 0,
        retention_ms: -1,
        ..small_config()
    };
    let mut log = Log::open(dir.path(), config)?;
    append_batches(&mut log, 60, 3)?;
    log.set_high_watermark(log.log_end_offset());
    let outcome = log.enforce_retention(0)?;
    assert!(outcome.deleted_segments > 0);
    assert_eq!(
        segment_count(dir.path()),
        1,
        "only the active segment stays"
    );
    assert_eq!(log.log_start_offset(), outcome.log_start_offset);
    assert_eq!(
        log.read(log.log_start_offset(), usize::MAX, i64::MAX)?
            .len() as u64,
        log.size_bytes()
    );
    Ok(())
}

#[test]
fn invariant_5_retention_never_deletes_data_above_the_high_watermark() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        retention_bytes: 0,
        ..small_config()
    };
    let mut log = Log::open(dir.path(), config)?;
    append_batches(&mut log, 60, 3)?;
    log.set_high_watermark(0);
    assert_eq!(log.enforce_retention(i64::MAX / 2)?.deleted_segments, 0);
    assert_eq!(log.log_start_offset(), 0);
    Ok(())
}

#[test]
fn invariant_5_retention_by_time_deletes_only_expired_segments() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        retention_ms: 100,
        ..small_config()
    };
    let mut log = Log::open(dir.path(), config)?;
    append_batches(&mut log, 60, 3)?; // timestamps 1000..1592
    log.set_high_watermark(180);
    assert_eq!(log.enforce_retention(1_000)?.deleted_segments, 0);
    let outcome = log.enforce_retention(1_300)?;
    assert!(outcome.deleted_segments > 0);
    let first = log.read(log.log_start_offset(), 1, i64::MAX)?;
    assert!(!first.is_empty());
    assert!(log.max_timestamp()?.is_some_and(|t| t.timestamp == 1_592));
    Ok(())
}

#[test]
fn compacted_topics_are_not_trimmed_by_retention() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut config = LogConfig {
        retention_bytes: 0,
        ..small_config()
    };
    config.set("cleanup.policy", "compact")?;
    let mut log = Log::open(dir.path(), config)?;
    append_batches(&mut log, 60, 3)?;
    log.set_high_watermark(180);
    assert_eq!(log.enforce_retention(i64::MAX / 2)?.deleted_segments, 0);
    Ok(())
}

#[test]
fn invariant_4_retired_segment_file_goes_when_the_last_reader_drops() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        retention_bytes: 0,
        ..small_config()
    };
    let mut log = Log::open(dir.path(), config)?;
    append_batches(&mut log, 60, 3)?;
    log.set_high_watermark(180);
    let held = log.read(0, 100, i64::MAX)?;
    let copy = held.chunks()[0].to_vec();
    log.enforce_retention(0)?;
    let deleted = dir.path().join("00000000000000000000.log.deleted");
    assert!(deleted.exists(), "a mapped segment waits for its reader");
    assert!(!dir.path().join("00000000000000000000.log").exists());
    assert_eq!(held.chunks()[0].to_vec(), copy);
    drop(held);
    assert!(!deleted.exists());
    Ok(())
}
