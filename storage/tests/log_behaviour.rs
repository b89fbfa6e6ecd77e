//! Behaviour of one partition log: append, read, lookups, reopen, truncation,
//! retention. Each test names the behaviour (and the DESIGN.md invariant) it pins.

use std::fs;

use sluice_storage::testing::{
    append_batches, batch_bytes, batch_offsets, fix_crc, read_all_offsets, segment_count,
    small_config,
};
use sluice_storage::{
    FetchSlice, Log, LogConfig, LogManager, PartitionMetadata, StorageError, TimestampType,
    VerifiedBatch,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn invariant_1_append_assigns_dense_offsets_from_log_end() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    let mut two = batch_bytes(999, 3, 10);
    two.extend(batch_bytes(999, 2, 10));
    let first = log.append(&mut two, 4, 100)?;
    assert_eq!(
        (first.base_offset, first.last_offset, first.record_count),
        (0, 4, 5)
    );
    assert_eq!(
        batch_offsets(&two),
        vec![(0, 2), (3, 4)],
        "offsets are patched into the caller's buffer"
    );
    let second = log.append(&mut batch_bytes(0, 1, 10), 4, 100)?;
    assert_eq!(second.base_offset, 5);
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(read_all_offsets(&log)?, vec![(0, 2), (3, 4), (5, 5)]);
    Ok(())
}

#[test]
fn append_with_bad_crc_is_corrupt_message_and_log_is_unchanged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 1, 2)?;
    let mut good_then_bad = batch_bytes(0, 1, 10);
    let mut bad = batch_bytes(0, 1, 10);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    good_then_bad.extend(bad);
    let error = log
        .append(&mut good_then_bad, 0, 0)
        .err()
        .ok_or("bad batch accepted")?;
    assert_eq!(error.kafka_error_code(), 2);
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.size_bytes(), batch_bytes(0, 2, 0).len() as u64);
    Ok(())
}

#[test]
fn append_with_zero_records_is_invalid_record() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    let mut batch = batch_bytes(0, 1, 10);
    batch[57..61].copy_from_slice(&0i32.to_be_bytes());
    fix_crc(&mut batch);
    let error = log
        .append(&mut batch, 0, 0)
        .err()
        .ok_or("empty batch accepted")?;
    assert_eq!(error.kafka_error_code(), 87);
    assert_eq!(log.log_end_offset(), 0);
    Ok(())
}

#[test]
fn append_with_truncated_batch_is_corrupt_message() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    let mut batch = batch_bytes(0, 2, 10);
    batch.truncate(batch.len() - 3);
    assert_eq!(
        log.append(&mut batch, 0, 0)
            .err()
            .map(|e| e.kafka_error_code()),
        Some(2)
    );
    Ok(())
}

#[test]
fn batch_larger_than_max_message_bytes_is_rejected() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        max_message_bytes: 100,
        ..small_config()
    };
    let mut log = Log::open(dir.path(), config)?;
    let error = log
        .append(&mut batch_bytes(0, 10, 10), 0, 0)
        .err()
        .ok_or("accepted")?;
    assert_eq!(error.kafka_error_code(), 10);
    Ok(())
}

#[test]
fn read_starts_at_the_batch_containing_the_offset() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 5, 4)?;
    let slice = log.read(9, usize::MAX, i64::MAX)?;
    assert_eq!(
        batch_offsets(&slice.into_contiguous()),
        vec![(8, 11), (12, 15), (16, 19)]
    );
    Ok(())
}

#[test]
fn read_returns_one_whole_batch_even_when_larger_than_max_bytes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 3, 4)?;
    let slice = log.read(0, 1, i64::MAX)?;
    assert_eq!(batch_offsets(&slice.into_contiguous()), vec![(0, 3)]);
    Ok(())
}

#[test]
fn read_never_returns_batches_at_or_after_max_offset() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 3, 4)?;
    assert_eq!(
        batch_offsets(&log.read(0, usize::MAX, 8)?.into_contiguous()),
        vec![(0, 3), (4, 7)]
    );
    assert!(log.read(8, usize::MAX, 8)?.is_empty());
    Ok(())
}

#[test]
fn read_outside_the_log_is_offset_out_of_range() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 1, 4)?;
    assert!(
        log.read(4, 100, i64::MAX)?.is_empty(),
        "reading at the log end is empty, not an error"
    );
    let error = log
        .read(5, 100, i64::MAX)
        .err()
        .ok_or("read past end succeeded")?;
    assert_eq!(error.kafka_error_code(), 1);
    Ok(())
}

#[test]
fn segments_roll_at_segment_bytes_and_reads_span_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 60, 3)?;
    assert!(
        segment_count(dir.path()) > 3,
        "60 batches of ~100 bytes must not fit one 1 KiB segment"
    );
    let offsets = read_all_offsets(&log)?;
    assert_eq!(offsets.len(), 60);
    assert!(offsets.windows(2).all(|w| w[1].0 == w[0].1 + 1));
    for (base, last) in offsets {
        let slice = log.read(last, 1, i64::MAX)?;
        assert_eq!(
            batch_offsets(&slice.into_contiguous()).first(),
            Some(&(base, last))
        );
    }
    Ok(())
}

#[test]
fn segment_ms_rolls_an_old_segment() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        segment_ms: 1_000,
        ..small_config()
    };
    let mut log = Log::open(dir.path(), config)?;
    log.append(&mut batch_bytes(0, 1, 0), 0, 10_000)?;
    log.append(&mut batch_bytes(0, 1, 0), 0, 10_500)?;
    assert_eq!(segment_count(dir.path()), 1);
    log.append(&mut batch_bytes(0, 1, 0), 0, 11_000)?;
    assert_eq!(segment_count(dir.path()), 2);
    Ok(())
}

#[test]
fn clean_reopen_keeps_everything() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 40, 3)?;
    log.set_high_watermark(100);
    let before = read_all_offsets(&log)?;
    log.close()?;
    assert!(dir.path().join(".clean-shutdown").exists());
    let log = Log::open(dir.path(), small_config())?;
    assert!(
        !dir.path().join(".clean-shutdown").exists(),
        "the marker is consumed by open"
    );
    assert_eq!(read_all_offsets(&log)?, before);
    assert_eq!((log.log_end_offset(), log.high_watermark()), (120, 100));
    Ok(())
}

#[test]
fn clean_close_trims_preallocated_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 2, 3)?;
    let size = log.size_bytes();
    log.close()?;
    assert_eq!(
        fs::metadata(dir.path().join("00000000000000000000.log"))?.len(),
        size
    );
    Ok(())
}

#[test]
fn invariant_3_unclean_reopen_keeps_every_acknowledged_batch() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 50, 3)?;
    let before = read_all_offsets(&log)?;
    drop(log); // no close: as after a process kill, files are preallocated and untrimmed
    let log = Log::open(dir.path(), small_config())?;
    assert_eq!(read_all_offsets(&log)?, before);
    let mut log = log;
    assert_eq!(
        log.append(&mut batch_bytes(0, 1, 0), 0, 0)?.base_offset,
        150
    );
    Ok(())
}

#[test]
fn invariant_2_recovery_cuts_garbage_after_the_last_good_batch() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 3, 3)?;
    let end = log.size_bytes();
    drop(log);
    let path = dir.path().join("00000000000000000000.log");
    let mut bytes = fs::read(&path)?;
    let mut next = batch_bytes(9, 3, 0);
    let half = next.len() / 2;
    next.truncate(half); // a torn write of the next batch
    bytes.splice(end as usize..end as usize + half, next);
    fs::write(&path, &bytes)?;
    let log = Log::open(dir.path(), small_config())?;
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(
        fs::metadata(&path)?.len(),
        end,
        "the torn tail is cut from the file"
    );
    Ok(())
}

#[test]
fn invariant_2_recovery_rebuilds_a_missing_or_damaged_index() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 60, 3)?;
    let before = read_all_offsets(&log)?;
    log.close()?;
    fs::remove_file(dir.path().join("00000000000000000000.index"))?;
    fs::write(dir.path().join("00000000000000000000.timeindex"), [7u8; 5])?;
    let log = Log::open(dir.path(), small_config())?;
    assert_eq!(read_all_offsets(&log)?, before);
    for (base, last) in before {
        assert_eq!(
            batch_offsets(&log.read(last, 1, i64::MAX)?.into_contiguous()).first(),
            Some(&(base, last))
        );
    }
    Ok(())
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    // batch i holds 3 records stamped 1000+10i, +1, +2.
    append_batches(&mut log, 40, 3)?;
    let found = log.offset_for_timestamp(1_201)?.ok_or("nothing found")?;
    assert_eq!((found.timestamp, found.offset), (1_201, 61));
    let found = log.offset_for_timestamp(1_205)?.ok_or("nothing found")?;
    assert_eq!((found.timestamp, found.offset), (1_210, 63));
    assert_eq!(log.offset_for_timestamp(0)?.map(|t| t.offset), Some(0));
    assert_eq!(log.offset_for_timestamp(99_999)?, None);
    Ok(())
}

#[test]
fn max_timestamp_reports_the_record_holding_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 40, 3)?;
    let max = log.max_timestamp()?.ok_or("empty")?;
    assert_eq!((max.timestamp, max.offset), (1_392, 119));
    Ok(())
}

#[test]
fn a_verified_append_writes_what_a_checked_append_writes() -> TestResult {
    let (checked_dir, verified_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut checked = Log::open(checked_dir.path(), small_config())?;
    let mut verified = Log::open(verified_dir.path(), small_config())?;
    let mut batches = batch_bytes(0, 3, 1_000);
    batches.extend(batch_bytes(0, 2, 2_000));
    let mut copy = batches.clone();
    let facts = [VerifiedBatch {
        max_timestamp_offset_delta: 2,
    }; 2];
    let a = checked.append(&mut batches, 3, 100)?;
    let b = verified.append_verified(&mut copy, &facts, 3, 100)?;
    assert_eq!(a, b);
    assert_eq!(batches, copy, "the same offsets and epoch are patched in");
    assert_eq!(read_all_offsets(&verified)?, vec![(0, 2), (3, 4)]);
    // Told delta 2 for the two-record batch, the log clamps it to that
    // batch's last record (offset 4), which the full check finds too.
    let max = verified.max_timestamp()?.ok_or("empty")?;
    assert_eq!((max.timestamp, max.offset), (2_001, 4));
    assert_eq!(checked.max_timestamp()?, Some(max));
    Ok(())
}

#[test]
fn a_verified_append_takes_the_callers_max_timestamp_record() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    let facts = [VerifiedBatch {
        max_timestamp_offset_delta: 1,
    }];
    log.append_verified(&mut batch_bytes(0, 3, 1_000), &facts, 0, 100)?;
    assert_eq!(log.max_timestamp()?.map(|t| t.offset), Some(1));
    Ok(())
}

#[test]
fn a_verified_append_still_refuses_broken_frames_and_miscounts() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    let one = [VerifiedBatch {
        max_timestamp_offset_delta: 0,
    }];
    let mut truncated = batch_bytes(0, 3, 1_000);
    truncated.pop();
    let refused = log.append_verified(&mut truncated, &one, 0, 100);
    assert!(matches!(refused, Err(StorageError::CorruptBatch { .. })));
    let mut two = batch_bytes(0, 1, 1_000);
    two.extend(batch_bytes(0, 1, 1_000));
    let refused = log.append_verified(&mut two, &one, 0, 100);
    assert!(matches!(refused, Err(StorageError::CorruptBatch { .. })));
    let refused = log.append_verified(&mut batch_bytes(0, 1, 1_000), &[one[0]; 2], 0, 100);
    assert!(matches!(refused, Err(StorageError::CorruptBatch { .. })));
    assert_eq!(log.log_end_offset(), 0, "nothing was written");
    Ok(())
}

#[test]
fn log_append_time_stamps_batches_with_broker_time() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..small_config()
    };
    let mut log = Log::open(dir.path(), config)?;
    let info = log.append(&mut batch_bytes(0, 2, 10), 0, 777)?;
    assert_eq!((info.log_append_time, info.max_timestamp), (777, 777));
    assert_eq!(
        log.offset_for_timestamp(700)?
            .map(|t| (t.timestamp, t.offset)),
        Some((777, 0))
    );
    drop(log);
    assert_eq!(
        Log::open(dir.path(), small_config())?.log_end_offset(),
        2,
        "stamped batch still passes its CRC"
    );
    Ok(())
}

#[test]
fn follower_append_must_start_at_log_end() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    log.append_as_follower(&batch_bytes(0, 3, 10))?;
    let error = log
        .append_as_follower(&batch_bytes(5, 1, 10))
        .err()
        .ok_or("gap accepted")?;
    assert!(matches!(
        error,
        StorageError::UnexpectedAppendOffset {
            expected: 3,
            found: 5
        }
    ));
    assert_eq!(
        log.append_as_follower(&batch_bytes(3, 1, 10))?.last_offset,
        3
    );
    Ok(())
}

#[test]
fn stored_topic_overrides_apply_on_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    let mut metadata = PartitionMetadata {
        topic_id: Some("3d9b1f9e-0000-4000-8000-000000000001".to_owned()),
        ..PartitionMetadata::default()
    };
    metadata
        .config_overrides
        .insert("retention.ms".to_owned(), "1234".to_owned());
    log.set_partition_metadata(metadata.clone())?;
    log.close()?;
    let log = Log::open(dir.path(), small_config())?;
    assert_eq!(log.partition_metadata(), &metadata);
    assert_eq!(log.config().retention_ms, 1234);
    Ok(())
}

#[test]
fn flush_messages_policy_advances_the_recovery_point() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut config = small_config();
    config.set("flush.messages", "6")?;
    let mut log = Log::open(dir.path(), config)?;
    let checkpoint = dir.path().join("recovery-point-offset-checkpoint");
    append_batches(&mut log, 1, 3)?;
    assert!(fs::read_to_string(&checkpoint)?.contains("recovery_point 0\n"));
    append_batches(&mut log, 1, 3)?;
    assert!(fs::read_to_string(&checkpoint)?.contains("recovery_point 6\n"));
    Ok(())
}

#[test]
fn log_manager_and_fetch_slices_can_cross_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Log>();
    send_and_sync::<LogManager>();
    send_and_sync::<FetchSlice>();
}

#[test]
fn checkpoint_persists_the_high_watermark_without_a_flush() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = Log::open(dir.path(), small_config())?;
    append_batches(&mut log, 3, 2)?;
    log.set_high_watermark(4);
    log.checkpoint()?;
    drop(log); // unclean
    assert_eq!(Log::open(dir.path(), small_config())?.high_watermark(), 4);
    Ok(())
}
