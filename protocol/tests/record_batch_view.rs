//! Behaviour of the RecordBatch v2 view, builder and batch iterator.

mod support;

use bytes::{Bytes, BytesMut};
use sluice_protocol::{
    BatchBuilder, BatchError, BatchHeaderMut, Compression, ErrorCode, RECORD_BATCH_OVERHEAD,
    RecordBatchView, RecordBatches, TimestampType,
};
use support::{ALL_CODECS, MAX_DECOMPRESSED_BYTES, valid_batch};

fn parse(bytes: Bytes) -> RecordBatchView {
    RecordBatchView::parse(bytes).expect("valid batch parses")
}

#[test]
fn header_fields_reflect_what_the_builder_was_given() {
    let batch = parse(valid_batch(Compression::Zstd));
    assert_eq!(batch.base_offset(), 0);
    assert_eq!(batch.magic(), 2);
    assert_eq!(batch.record_count(), 5);
    assert_eq!(batch.last_offset_delta(), 4);
    assert_eq!(batch.base_timestamp(), 1_700_000_000_000 - 5);
    assert_eq!(batch.max_timestamp(), 1_700_000_000_000 + 12 - 5);
    assert_eq!(batch.producer_id(), 42);
    assert_eq!(batch.producer_epoch(), 3);
    assert_eq!(batch.base_sequence(), 100);
    assert_eq!(batch.last_sequence(), 104);
    assert_eq!(batch.compression(), Compression::Zstd);
    assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    assert!(!batch.is_transactional());
    assert!(!batch.is_control());
    assert_eq!(batch.batch_length() as usize + 12, batch.size_in_bytes());
}

#[test]
fn built_batches_pass_full_validation_with_every_codec() {
    for compression in ALL_CODECS {
        let summary = parse(valid_batch(compression))
            .validate(MAX_DECOMPRESSED_BYTES)
            .expect("valid");
        assert_eq!(summary.record_count, 5, "{compression:?}");
    }
}

#[test]
fn crc_check_catches_a_flipped_bit_anywhere_it_covers() {
    let original = valid_batch(Compression::None);
    for position in RECORD_BATCH_OVERHEAD - 40..original.len() {
        let mut corrupted = BytesMut::from(&original[..]);
        corrupted[position] ^= 0x10;
        let Ok(batch) = RecordBatchView::parse(corrupted.freeze()) else {
            continue; // a flip in the record count can fail parsing instead
        };
        assert!(
            matches!(batch.verify_crc(), Err(BatchError::CrcMismatch { .. })),
            "flip at {position} went unnoticed"
        );
    }
}

#[test]
fn assigning_offsets_keeps_the_crc_valid() {
    let mut batch = parse(valid_batch(Compression::Lz4));
    batch.assign_offsets(123_456, 9);
    assert_eq!(batch.base_offset(), 123_456);
    assert_eq!(batch.partition_leader_epoch(), 9);
    assert_eq!(batch.last_offset(), 123_460);
    assert_eq!(batch.next_offset(), 123_461);
    batch
        .verify_crc()
        .expect("offset and epoch are outside the CRC");
    let offsets: Vec<i64> = batch
        .records(MAX_DECOMPRESSED_BYTES)
        .expect("decompresses")
        .map(|record| record.expect("valid").offset)
        .collect();
    assert_eq!(offsets, (123_456..123_461).collect::<Vec<_>>());
}

#[test]
fn header_mut_patches_a_batch_in_a_mutable_buffer() {
    let mut buf = BytesMut::from(&valid_batch(Compression::None)[..]);
    let mut header = BatchHeaderMut::new(&mut buf).expect("v2 header");
    header.set_base_offset(77);
    header.set_partition_leader_epoch(5);
    let batch = parse(buf.freeze());
    assert_eq!(
        (batch.base_offset(), batch.partition_leader_epoch()),
        (77, 5)
    );
    batch.verify_crc().expect("still valid");
}

#[test]
fn records_expose_null_keys_values_and_headers() {
    let batch = parse(valid_batch(Compression::Snappy));
    let records: Vec<_> = batch
        .records(MAX_DECOMPRESSED_BYTES)
        .expect("decompresses")
        .collect::<Result<_, _>>()
        .expect("valid");
    assert_eq!(records[1].key, None);
    assert_eq!(records[2].key.as_deref(), Some(&b"key-2"[..]));
    assert_eq!(records[3].value, None);
    assert_eq!(records[0].timestamp, 1_700_000_000_000 - 5);
    let headers: Vec<_> = records[4].headers.iter().collect();
    assert_eq!(headers.len(), 2);
    assert_eq!(&headers[0].key[..], b"trace");
    assert_eq!(headers[0].value.as_deref(), Some(&[4u8][..]));
    assert_eq!(headers[1].value, None);
}

#[test]
fn uncompressed_record_fields_are_slices_of_the_batch_buffer() {
    let bytes = valid_batch(Compression::None);
    let range = bytes.as_ptr_range();
    let batch = parse(bytes.clone());
    let record = batch
        .records(MAX_DECOMPRESSED_BYTES)
        .expect("no decompression")
        .nth(2)
        .expect("third record")
        .expect("valid");
    let key = record.key.expect("has a key");
    assert!(range.contains(&key.as_ptr()), "the key was copied");
}

#[test]
fn decompression_beyond_the_limit_is_refused() {
    let mut builder = BatchBuilder::new(Compression::Gzip, usize::MAX);
    assert!(builder.append(0, None, Some(&vec![0u8; 1 << 20]), &[]));
    let batch = parse(builder.build().expect("builds"));
    assert!(batch.size_in_bytes() < 10_000, "zeros compress well");
    let error = batch.records(64 * 1024).expect_err("over the limit");
    assert!(matches!(error, BatchError::DecompressedTooLarge { .. }));
}

#[test]
fn log_append_time_batches_give_every_record_the_max_timestamp() {
    let mut bytes = BytesMut::from(&valid_batch(Compression::None)[..]);
    bytes[22] |= 1 << 3; // attributes low byte: timestamp type bit
    let batch = parse(bytes.freeze());
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    for record in batch.records(MAX_DECOMPRESSED_BYTES).expect("records") {
        assert_eq!(record.expect("valid").timestamp, batch.max_timestamp());
    }
}

#[test]
fn append_refuses_a_record_past_the_size_limit_but_always_takes_the_first() {
    let mut builder = BatchBuilder::new(Compression::None, 200);
    assert!(
        builder.append(1, None, Some(&[1u8; 500]), &[]),
        "first always fits"
    );
    assert!(!builder.append(2, None, Some(b"more"), &[]));
    assert_eq!(builder.record_count(), 1);
    builder.build().expect("builds");
    assert!(builder.is_empty());
    assert!(builder.append(3, None, Some(b"small"), &[]));
    assert!(builder.estimated_size() <= 200);
}

#[test]
fn builder_is_reusable_after_build_and_reset() {
    let mut builder = BatchBuilder::new(Compression::Lz4, 1 << 16);
    builder.set_producer(9, 0);
    for round in 0..3 {
        builder.set_base_sequence(round * 2);
        assert!(builder.append(round as i64, Some(b"k"), Some(b"v"), &[]));
        assert!(builder.append(round as i64 + 1, Some(b"k"), Some(b"v"), &[]));
        let batch = parse(builder.build().expect("builds"));
        assert_eq!(batch.record_count(), 2);
        assert_eq!(batch.base_sequence(), round * 2);
        assert_eq!(batch.producer_id(), 9);
        batch.validate(MAX_DECOMPRESSED_BYTES).expect("valid");
    }
    assert!(builder.append(0, None, None, &[]));
    builder.reset();
    assert!(matches!(builder.build(), Err(BatchError::EmptyBatch)));
}

#[test]
fn batch_iterator_skips_a_truncated_trailing_batch() {
    let first = valid_batch(Compression::None);
    let second = valid_batch(Compression::Gzip);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second);
    buf.extend_from_slice(&first[..first.len() - 7]);
    let mut batches = RecordBatches::new(buf.freeze());
    let views: Vec<_> = batches.by_ref().collect::<Result<_, _>>().expect("valid");
    assert_eq!(views.len(), 2);
    assert_eq!(views[1].compression(), Compression::Gzip);
    assert_eq!(batches.remaining().len(), first.len() - 7);
}

#[test]
fn batch_iterator_reports_an_impossible_length_once_and_stops() {
    let mut buf = BytesMut::from(&valid_batch(Compression::None)[..]);
    buf[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    let results: Vec<_> = RecordBatches::new(buf.freeze()).collect();
    assert_eq!(results.len(), 1);
    assert!(matches!(results[0], Err(BatchError::InvalidLength { .. })));
}

#[test]
fn parse_rejects_old_magic_bad_length_and_unknown_codec() {
    let original = valid_batch(Compression::None);
    let mut old_magic = BytesMut::from(&original[..]);
    old_magic[16] = 1;
    assert!(matches!(
        RecordBatchView::parse(old_magic.freeze()),
        Err(BatchError::UnsupportedMagic(1))
    ));
    assert!(matches!(
        RecordBatchView::parse(original.slice(..original.len() - 1)),
        Err(BatchError::InvalidLength { .. })
    ));
    let mut bad_codec = BytesMut::from(&original[..]);
    bad_codec[22] |= 0x07;
    let error = RecordBatchView::parse(bad_codec.freeze()).expect_err("codec 7");
    assert_eq!(
        ErrorCode::from(&error),
        ErrorCode::UnsupportedCompressionType
    );
}

#[test]
fn a_record_count_larger_than_the_records_is_invalid() {
    let mut buf = BytesMut::from(&valid_batch(Compression::Zstd)[..]);
    buf[57..61].copy_from_slice(&6i32.to_be_bytes());
    let batch = parse(buf.freeze());
    let error = batch
        .records(MAX_DECOMPRESSED_BYTES)
        .expect("decompresses")
        .last();
    assert!(matches!(
        error,
        Some(Err(BatchError::RecordCountMismatch { .. }))
    ));
}

#[test]
fn batch_errors_map_to_kafka_error_codes() {
    let crc = BatchError::CrcMismatch {
        stored: 1,
        computed: 2,
    };
    assert_eq!(ErrorCode::from(&crc), ErrorCode::CorruptMessage);
    let record = BatchError::InvalidRecord {
        index: 0,
        reason: "test",
    };
    assert_eq!(ErrorCode::from(&record), ErrorCode::InvalidRecord);
    assert_eq!(
        ErrorCode::from(BatchError::UnsupportedCompression(5)),
        ErrorCode::UnsupportedCompressionType
    );
}

#[test]
fn every_truncation_of_a_batch_is_rejected() {
    let original = valid_batch(Compression::Gzip);
    for length in 0..original.len() {
        let truncated = original.slice(..length);
        assert!(
            RecordBatchView::parse(truncated.clone()).is_err(),
            "length {length}"
        );
        assert_eq!(RecordBatches::new(truncated).count(), 0, "length {length}");
    }
}
