//! Test fixtures: building valid RecordBatch v2 bytes without another crate.
//! Compiled for this crate's tests and, with the `testing` feature, for the
//! integration tests and benchmarks.

/// Appends a zig-zag varint.
fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        let byte = (raw & 0x7f) as u8;
        raw >>= 7;
        if raw == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// One uncompressed RecordBatch v2 with `record_count` records of `value_len`
/// bytes each, timestamps `first_timestamp_ms + i`, base offset `base_offset`.
pub fn batch_with_values(
    base_offset: i64,
    record_count: i32,
    first_timestamp_ms: i64,
    value_len: usize,
) -> Vec<u8> {
    let mut records = Vec::new();
    for i in 0..record_count {
        let mut body = vec![0u8]; // attributes
        put_varint(&mut body, i64::from(i)); // timestamp delta
        put_varint(&mut body, i64::from(i)); // offset delta
        put_varint(&mut body, -1); // null key
        put_varint(&mut body, value_len as i64);
        body.extend((0..value_len).map(|j| (j as u8) ^ (i as u8)));
        put_varint(&mut body, 0); // no headers
        put_varint(&mut records, body.len() as i64);
        records.extend_from_slice(&body);
    }
    let mut batch = Vec::with_capacity(61 + records.len());
    batch.extend_from_slice(&base_offset.to_be_bytes());
    batch.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
    batch.push(2); // magic
    batch.extend_from_slice(&0u32.to_be_bytes()); // crc, filled below
    batch.extend_from_slice(&0i16.to_be_bytes()); // attributes
    batch.extend_from_slice(&(record_count - 1).to_be_bytes());
    batch.extend_from_slice(&first_timestamp_ms.to_be_bytes());
    batch.extend_from_slice(&(first_timestamp_ms + i64::from(record_count) - 1).to_be_bytes());
    batch.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    batch.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    batch.extend_from_slice(&record_count.to_be_bytes());
    batch.extend_from_slice(&records);
    let crc = crc_fast::crc32_iscsi(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// A small batch: `record_count` records of 8 bytes.
pub fn batch_bytes(base_offset: i64, record_count: i32, first_timestamp_ms: i64) -> Vec<u8> {
    batch_with_values(base_offset, record_count, first_timestamp_ms, 8)
}

/// Reads `(base_offset, last_offset)` of every batch in `bytes`, for assertions.
pub fn batch_offsets(bytes: &[u8]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 61 <= bytes.len() {
        let base = i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let length = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap_or([0; 4]));
        let delta = i32::from_be_bytes(bytes[at + 23..at + 27].try_into().unwrap_or([0; 4]));
        out.push((base, base + i64::from(delta)));
        at += 12 + length.max(0) as usize;
    }
    out
}

/// A config with small segments and indexes, so tests roll often, and index
/// growth steps of one or two entries, so they grow the indexes often too.
pub fn small_config() -> crate::LogConfig {
    crate::LogConfig {
        segment_bytes: 1024,
        segment_index_bytes: 1024,
        index_interval_bytes: 256,
        preallocate_step_bytes: 1024,
        index_preallocate_step_bytes: 16,
        ..crate::LogConfig::default()
    }
}

/// Recomputes the CRC-32C of a whole batch after a test edited it.
pub fn fix_crc(batch: &mut [u8]) {
    let crc = crc_fast::crc32_iscsi(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Appends `batches` batches of `records` records each (leader epoch 1),
/// timestamps 10 ms apart from 1,000.
///
/// # Errors
/// What [`crate::Log::append`] returns.
pub fn append_batches(
    log: &mut crate::Log,
    batches: usize,
    records: i32,
) -> Result<(), crate::StorageError> {
    for i in 0..batches {
        let mut batch = batch_bytes(0, records, 1_000 + i as i64 * 10);
        log.append(&mut batch, 1, 5_000)?;
    }
    Ok(())
}

/// `(base_offset, last_offset)` of every batch from the log start to its end.
///
/// # Errors
/// What [`crate::Log::read`] returns.
pub fn read_all_offsets(log: &crate::Log) -> Result<Vec<(i64, i64)>, crate::StorageError> {
    let slice = log.read(log.log_start_offset(), usize::MAX, i64::MAX)?;
    Ok(slice
        .chunks()
        .iter()
        .flat_map(|chunk| batch_offsets(chunk))
        .collect())
}

/// How many segments (`.log` files) a partition directory holds.
pub fn segment_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
                .count()
        })
        .unwrap_or(0)
}

/// Reads a partition directory's own small files as [`crate::Log::open`]
/// reads them first (`partition.metadata`, then the recovery-point
/// checkpoint), without opening the log: the entry point of the fuzzer's
/// `files` target.
///
/// # Errors
/// What the readers report: `CorruptFile` for damaged content, I/O errors.
pub fn read_partition_files(dir: &std::path::Path) -> Result<(), crate::StorageError> {
    crate::metadata::PartitionMetadata::read(dir)?;
    crate::checkpoint::PartitionCheckpoint::read(dir)?;
    Ok(())
}

/// Writes a partition's checkpoint and `partition.metadata` into `dir` with
/// the crate's own writers (the fuzzer's seeds for [`read_partition_files`]).
///
/// # Errors
/// I/O errors.
pub fn write_partition_files(
    dir: &std::path::Path,
    recovery_point: i64,
    high_watermark: i64,
    log_start_offset: i64,
    metadata: &crate::PartitionMetadata,
) -> Result<(), crate::StorageError> {
    metadata.write(dir)?;
    crate::checkpoint::PartitionCheckpoint {
        recovery_point,
        high_watermark,
        log_start_offset,
    }
    .write(dir)
}
