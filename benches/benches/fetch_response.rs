//! Micro-benchmark of encoding a Fetch response: `kafka-protocol`'s encoder,
//! which copies every partition's records into the response buffer (and the
//! old connection path then copied the frame again into the codec's write
//! buffer), against `encode_fetch_response`, which writes only the envelope
//! and shares the record bytes as chunks.
//!
//! Run with `cargo bench -p sluice-benches --bench fetch_response`. Each
//! benchmark's name gives the workload: partitions × record bytes each, at
//! Fetch v12 (flexible, topic names), one topic.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_protocol::{encode_fetch_response, encode_response, frame_length_prefix};

const FETCH_VERSION: i16 = 12;
const CORRELATION_ID: i32 = 7;
/// Total record bytes per response, split evenly over the partitions.
const RESPONSE_RECORD_BYTES: usize = 1 << 20;
const PARTITION_COUNTS: [usize; 3] = [1, 16, 256];

/// A response carrying `partitions` partitions of records that share one
/// buffer, as storage hands out views of one mapped segment.
fn response(partitions: usize) -> FetchResponse {
    let segment = Bytes::from(vec![0x42; RESPONSE_RECORD_BYTES]);
    let per_partition = RESPONSE_RECORD_BYTES / partitions;
    let partitions = (0..partitions)
        .map(|index| {
            let start = index * per_partition;
            PartitionData::default()
                .with_partition_index(i32::try_from(index).expect("a few hundred partitions"))
                .with_high_watermark(1_000_000)
                .with_last_stable_offset(1_000_000)
                .with_log_start_offset(0)
                .with_records(Some(segment.slice(start..start + per_partition)))
        })
        .collect();
    let topic = FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_static_str("bench-topic")))
        .with_partitions(partitions);
    FetchResponse::default().with_responses(vec![topic])
}

fn fetch_response_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("fetch_response_encode");
    group.throughput(Throughput::Bytes(RESPONSE_RECORD_BYTES as u64));
    for partitions in PARTITION_COUNTS {
        let response = response(partitions);
        let workload = format!("{partitions}x{}B", RESPONSE_RECORD_BYTES / partitions);
        group.bench_function(BenchmarkId::new("kafka_protocol", &workload), |b| {
            b.iter(|| encode_response(CORRELATION_ID, FETCH_VERSION, black_box(&response)))
        });
        // The old connection path: the encoded body was copied again, behind
        // its length prefix, into the frame codec's write buffer.
        group.bench_function(
            BenchmarkId::new("kafka_protocol_then_framed", &workload),
            |b| {
                b.iter(|| {
                    let body = encode_response(CORRELATION_ID, FETCH_VERSION, black_box(&response))
                        .expect("the bench response encodes");
                    let prefix = frame_length_prefix(body.len()).expect("1 MiB fits a frame");
                    let mut frame = BytesMut::with_capacity(prefix.len() + body.len());
                    frame.extend_from_slice(&prefix);
                    frame.extend_from_slice(&body);
                    frame
                })
            },
        );
        group.bench_function(BenchmarkId::new("chunks", &workload), |b| {
            b.iter(|| {
                let chunks =
                    encode_fetch_response(CORRELATION_ID, FETCH_VERSION, black_box(&response))
                        .expect("the bench response encodes");
                (frame_length_prefix(chunks.len()), chunks)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fetch_response_encode);
criterion_main!(benches);
