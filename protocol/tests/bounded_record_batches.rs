//! Record batches from the network or the disk never make us allocate more
//! than their bytes justify: huge record counts, header counts, key and
//! value lengths are refused, and decompression stops at its limit (issue 21).
//!
//! A counting global allocator measures the largest single allocation of
//! each read.

mod allocation;
mod support;

use bytes::{Bytes, BytesMut};
use sluice_protocol::{BatchBuilder, BatchError, Compression, RecordBatchView, RecordBatches};

use allocation::{CountingAllocator, largest_allocation};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Reading a batch of a few hundred bytes may not allocate more than this at
/// once (an LZ4 decoder holds one 64 KiB block).
const SMALL_READ_MAX_ALLOCATION_BYTES: usize = 256 * 1024;

/// The decompression limit used for the bombs below.
const MAX_DECOMPRESSED_BYTES: usize = 1 << 20;

/// Decompressing to at most [`MAX_DECOMPRESSED_BYTES`] may not allocate more
/// than this at once (growing output buffers double). libzstd's own window
/// is allocated by C `malloc`, which this allocator does not see; it is
/// bounded by libzstd's `windowLogMax` (2^27 bytes, as in Kafka's zstd-jni).
const DECOMPRESSION_MAX_ALLOCATION_BYTES: usize = 8 * MAX_DECOMPRESSED_BYTES;

/// The batch header (61 bytes) of a one-record batch, and that record.
fn one_record_batch(compression: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new(compression, 1 << 20);
    assert!(builder.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[("h", None)]));
    builder.build().map(|b| b.to_vec()).unwrap_or_default()
}

/// Overwrites the record count (bytes 57..61 of the header).
fn with_record_count(mut batch: Vec<u8>, count: i32) -> Bytes {
    batch[57..61].copy_from_slice(&count.to_be_bytes());
    Bytes::from(batch)
}

/// Reads every record of `batch` the ways the broker does (the walk of
/// `validate` and the iterator of a replay; the CRC is left out, as the
/// batches here are altered after building); `Err` on the first refusal.
fn read_all(batch: Bytes) -> Result<usize, BatchError> {
    let view = RecordBatchView::parse(batch)?;
    view.records(MAX_DECOMPRESSED_BYTES)?.check_remaining()?;
    let mut records = 0;
    for record in view.records(MAX_DECOMPRESSED_BYTES)? {
        let record = record?;
        records += 1 + record.headers.iter().count();
    }
    Ok(records)
}

#[test]
fn record_count_of_2_pow_31_is_refused_for_every_codec_without_a_big_allocation() {
    for compression in support::ALL_CODECS {
        let batch = with_record_count(one_record_batch(compression), i32::MAX);
        let (result, largest) = largest_allocation(|| read_all(batch));
        assert!(
            matches!(result, Err(BatchError::RecordCountMismatch { .. })),
            "{compression}: {result:?}"
        );
        assert!(
            largest < SMALL_READ_MAX_ALLOCATION_BYTES,
            "{compression}: {largest} bytes"
        );
    }
}

/// A one-record uncompressed batch whose record is `body` (after its length).
fn batch_with_record_body(body: &[u8]) -> Bytes {
    let mut batch = one_record_batch(Compression::None);
    batch.truncate(61);
    // The record's length as a zigzag varint (bodies here are under 64 bytes).
    let length = u8::try_from(body.len() * 2).unwrap_or(u8::MAX);
    batch.push(length);
    batch.extend_from_slice(body);
    let batch_length = i32::try_from(batch.len() - 12).unwrap_or(i32::MAX);
    batch[8..12].copy_from_slice(&batch_length.to_be_bytes());
    Bytes::from(batch)
}

/// The largest positive zigzag varint (`i32::MAX`).
const HUGE_VARINT: [u8; 5] = [0xfe, 0xff, 0xff, 0xff, 0x0f];

#[test]
fn header_count_of_2_pow_31_is_refused_without_a_big_allocation() {
    // attributes, timestamp delta, offset delta, null key, null value,
    // then the header count and a few bytes.
    let mut body = vec![0, 0, 0, 1, 1];
    body.extend_from_slice(&HUGE_VARINT);
    body.extend_from_slice(&[0; 8]);
    let batch = batch_with_record_body(&body);
    let (result, largest) = largest_allocation(|| read_all(batch));
    assert!(
        matches!(result, Err(BatchError::InvalidRecord { .. })),
        "{result:?}"
    );
    assert!(largest < SMALL_READ_MAX_ALLOCATION_BYTES, "{largest} bytes");
}

#[test]
fn key_value_and_header_lengths_of_2_pow_31_are_refused_without_a_big_allocation() {
    let huge_key = [&[0u8, 0, 0][..], &HUGE_VARINT, &[1, 0], &[0; 8]].concat();
    let huge_value = [&[0u8, 0, 0, 1][..], &HUGE_VARINT, &[0], &[0; 8]].concat();
    let huge_header_key = [&[0u8, 0, 0, 1, 1, 2][..], &HUGE_VARINT, &[0; 8]].concat();
    let huge_header_value = [&[0u8, 0, 0, 1, 1, 2, 0][..], &HUGE_VARINT, &[0; 8]].concat();
    for body in [huge_key, huge_value, huge_header_key, huge_header_value] {
        let batch = batch_with_record_body(&body);
        let (result, largest) = largest_allocation(|| read_all(batch));
        assert!(
            matches!(result, Err(BatchError::InvalidRecord { .. })),
            "{body:02x?}: {result:?}"
        );
        assert!(largest < SMALL_READ_MAX_ALLOCATION_BYTES, "{largest} bytes");
    }
}

#[test]
fn batch_length_of_2_pow_31_is_refused_without_a_big_allocation() {
    let mut batch = one_record_batch(Compression::None);
    batch[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    let batch = Bytes::from(batch);
    let (results, largest) = largest_allocation(|| {
        let parsed = RecordBatchView::parse(batch.clone()).map(drop);
        let split: Vec<_> = RecordBatches::new(batch).collect();
        (parsed, split.len())
    });
    assert!(matches!(results.0, Err(BatchError::InvalidLength { .. })));
    // Too short for what it claims: the iterator waits for more bytes.
    assert_eq!(results.1, 0);
    assert!(largest < SMALL_READ_MAX_ALLOCATION_BYTES, "{largest} bytes");
}

/// 64 MiB of zeros compressed with `compression`: a few kilobytes that
/// would decompress to 64 times the limit.
fn bomb(compression: Compression) -> Bytes {
    let zeros = vec![0u8; 64 << 20];
    let mut out = BytesMut::new();
    if let Err(error) = compression.compress(&zeros, None, &mut out) {
        panic!("{compression} does not compress: {error}");
    }
    out.freeze()
}

#[test]
fn decompression_bombs_stop_at_the_limit_without_a_big_allocation() {
    for compression in support::ALL_CODECS {
        if compression == Compression::None {
            continue;
        }
        let input = bomb(compression);
        let (result, largest) =
            largest_allocation(|| compression.decompress(&input, MAX_DECOMPRESSED_BYTES));
        assert!(
            matches!(result, Err(BatchError::DecompressedTooLarge { .. })),
            "{compression}: {result:?}"
        );
        assert!(
            largest < DECOMPRESSION_MAX_ALLOCATION_BYTES,
            "{compression}: {largest} bytes"
        );
    }
}

#[test]
fn snappy_block_claiming_4_gib_is_refused_before_allocating() {
    // A raw snappy block starts with its uncompressed length as a varint.
    let claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0];
    let input = Bytes::copy_from_slice(&claim);
    let (result, largest) =
        largest_allocation(|| Compression::Snappy.decompress(&input, MAX_DECOMPRESSED_BYTES));
    assert!(result.is_err(), "{result:?}");
    assert!(largest < SMALL_READ_MAX_ALLOCATION_BYTES, "{largest} bytes");
}
