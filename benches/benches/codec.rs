//! Micro-benchmarks of the RecordBatch v2 hot paths: building and reading
//! batches (ours against kafka-protocol's record codec, the baseline that
//! motivated writing our own), CRC-32C, and each compression codec.
//!
//! Run with `cargo bench -p sluice-benches --bench codec`. The workload is
//! printed in each benchmark's name: records per batch, key and value sizes.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::records::{
    Compression as KafkaCompression, Record as KafkaRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};
use sluice_protocol::{BatchBuilder, CodecContext, Compression, RecordBatchView};

const RECORDS_PER_BATCH: usize = 1_000;
const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 100;
const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;
const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// Somewhat compressible payloads, like JSON-ish application records.
fn payloads() -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..RECORDS_PER_BATCH)
        .map(|i| {
            let key = format!("{:0width$}", i % 257, width = KEY_BYTES).into_bytes();
            let value = format!(
                "{{\"user\":{i},\"event\":\"click\",\"page\":\"/item/{}\"}}",
                i % 31
            )
            .into_bytes()
            .into_iter()
            .cycle()
            .take(VALUE_BYTES)
            .collect();
            (key, value)
        })
        .collect()
}

fn to_kafka(compression: Compression) -> KafkaCompression {
    match compression {
        Compression::None => KafkaCompression::None,
        Compression::Gzip => KafkaCompression::Gzip,
        Compression::Snappy => KafkaCompression::Snappy,
        Compression::Lz4 => KafkaCompression::Lz4,
        Compression::Zstd => KafkaCompression::Zstd,
    }
}

fn build_ours(builder: &mut BatchBuilder, payloads: &[(Vec<u8>, Vec<u8>)]) -> Bytes {
    for (index, (key, value)) in payloads.iter().enumerate() {
        let appended = builder.append(index as i64, Some(key), Some(value), &[]);
        debug_assert!(appended);
    }
    builder.build().expect("a non-empty batch builds")
}

fn kafka_records(payloads: &[(Vec<u8>, Vec<u8>)]) -> Vec<KafkaRecord> {
    payloads
        .iter()
        .enumerate()
        .map(|(index, (key, value))| KafkaRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: index as i64,
            sequence: index as i32,
            timestamp: index as i64,
            key: Some(Bytes::copy_from_slice(key)),
            value: Some(Bytes::copy_from_slice(value)),
            headers: Default::default(),
        })
        .collect()
}

fn encode_kafka(records: &[KafkaRecord], compression: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: to_kafka(compression),
    };
    RecordBatchEncoder::encode(&mut buf, records, &options).expect("kafka-protocol encodes");
    buf.freeze()
}

fn batch_encode(c: &mut Criterion) {
    let payloads = payloads();
    let mut group = c.benchmark_group(format!(
        "batch_encode/{RECORDS_PER_BATCH}x(key {KEY_BYTES}B, value {VALUE_BYTES}B)"
    ));
    group.throughput(Throughput::Elements(RECORDS_PER_BATCH as u64));
    for compression in CODECS {
        let mut builder = BatchBuilder::new(compression, usize::MAX);
        group.bench_function(
            BenchmarkId::new("sluice", format!("{compression:?}")),
            |b| b.iter(|| build_ours(&mut builder, black_box(&payloads))),
        );
        group.bench_function(
            BenchmarkId::new("kafka-protocol", format!("{compression:?}")),
            |b| {
                // kafka-protocol needs owned records: building them is part
                // of what a producer using it would pay.
                b.iter(|| encode_kafka(&kafka_records(black_box(&payloads)), compression))
            },
        );
    }
    group.finish();
}

fn batch_decode(c: &mut Criterion) {
    let payloads = payloads();
    let mut group = c.benchmark_group(format!(
        "batch_decode/{RECORDS_PER_BATCH}x(key {KEY_BYTES}B, value {VALUE_BYTES}B)"
    ));
    group.throughput(Throughput::Elements(RECORDS_PER_BATCH as u64));
    for compression in CODECS {
        let bytes = build_ours(&mut BatchBuilder::new(compression, usize::MAX), &payloads);
        group.bench_function(
            BenchmarkId::new("sluice", format!("{compression:?}")),
            |b| {
                b.iter(|| {
                    let batch = RecordBatchView::parse(black_box(bytes.clone())).expect("valid");
                    let mut value_bytes = 0;
                    for record in batch.records(MAX_DECOMPRESSED_BYTES).expect("decompresses") {
                        value_bytes += record.expect("valid").value.map_or(0, |v| v.len());
                    }
                    value_bytes
                })
            },
        );
        group.bench_function(
            BenchmarkId::new("kafka-protocol", format!("{compression:?}")),
            |b| {
                b.iter(|| {
                    let mut buf = black_box(bytes.clone());
                    RecordBatchDecoder::decode(&mut buf)
                        .expect("valid")
                        .records
                        .len()
                })
            },
        );
    }
    group.finish();
}

fn batch_validate_and_crc(c: &mut Criterion) {
    let payloads = payloads();
    let bytes = build_ours(
        &mut BatchBuilder::new(Compression::None, usize::MAX),
        &payloads,
    );
    let batch = RecordBatchView::parse(bytes).expect("valid");
    let mut group = c.benchmark_group("batch_check");
    group.throughput(Throughput::Bytes(batch.size_in_bytes() as u64));
    group.bench_function(format!("crc32c/{}B", batch.size_in_bytes()), |b| {
        b.iter(|| black_box(&batch).verify_crc())
    });
    group.bench_function(format!("validate/{}B", batch.size_in_bytes()), |b| {
        b.iter(|| black_box(&batch).validate(MAX_DECOMPRESSED_BYTES))
    });
    group.finish();
}

fn codecs(c: &mut Criterion) {
    let input: Vec<u8> = payloads()
        .into_iter()
        .flat_map(|(key, value)| key.into_iter().chain(value))
        .collect();
    let mut group = c.benchmark_group(format!("codec/{}B", input.len()));
    group.throughput(Throughput::Bytes(input.len() as u64));
    for compression in CODECS {
        let mut out = BytesMut::new();
        // As a batch builder compresses: one codec context, batch after batch.
        let mut context = CodecContext::default();
        group.bench_function(
            BenchmarkId::new("compress", format!("{compression:?}")),
            |b| {
                b.iter(|| {
                    out.clear();
                    compression
                        .compress_with(&mut context, black_box(&input), None, &mut out)
                        .expect("compresses");
                })
            },
        );
        let mut compressed = BytesMut::new();
        compression
            .compress(&input, None, &mut compressed)
            .expect("compresses");
        let compressed = compressed.freeze();
        group.bench_function(
            BenchmarkId::new("decompress", format!("{compression:?}")),
            |b| {
                b.iter(|| {
                    compression
                        .decompress(black_box(&compressed), MAX_DECOMPRESSED_BYTES)
                        .expect("decompresses")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    batch_encode,
    batch_decode,
    batch_validate_and_crc,
    codecs
);
criterion_main!(benches);
