//! Fixtures shared by the RecordBatch integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use bytes::Bytes;
use proptest::prelude::*;
use sluice_protocol::{BatchBuilder, Compression};

/// Every codec Kafka defines.
pub const ALL_CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// A generous decompression limit for tests.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// The same codec in kafka-protocol's terms.
pub fn to_kafka(compression: Compression) -> kafka_protocol::records::Compression {
    use kafka_protocol::records::Compression as K;
    match compression {
        Compression::None => K::None,
        Compression::Gzip => K::Gzip,
        Compression::Snappy => K::Snappy,
        Compression::Lz4 => K::Lz4,
        Compression::Zstd => K::Zstd,
    }
}

/// One record to encode, independent of either codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Unique keys: kafka-protocol keeps headers in a map.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

fn bytes_strategy(max_len: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max_len))
}

fn sample_strategy(base_timestamp: i64) -> impl Strategy<Value = Sample> {
    (
        -1_000_000i64..1_000_000,
        bytes_strategy(32),
        bytes_strategy(256),
        proptest::collection::btree_map("[a-z0-9._-]{0,12}", bytes_strategy(16), 0..4),
    )
        .prop_map(move |(delta, key, value, headers)| Sample {
            timestamp: base_timestamp + delta,
            key,
            value,
            headers: headers.into_iter().collect(),
        })
}

/// Between 1 and `max_records` records around a random base timestamp;
/// timestamps go both ways from the first (negative deltas).
pub fn samples_strategy(max_records: usize) -> impl Strategy<Value = Vec<Sample>> {
    (0i64..4_000_000_000_000)
        .prop_flat_map(move |base| proptest::collection::vec(sample_strategy(base), 1..max_records))
}

/// Identity fields of a batch: producer id, epoch, base sequence, leader epoch.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub partition_leader_epoch: i32,
    pub transactional: bool,
}

pub fn identity_strategy() -> impl Strategy<Value = Identity> {
    (
        -1i64..1_000_000,
        -1i16..100,
        0i32..1_000_000,
        -1i32..100,
        any::<bool>(),
    )
        .prop_map(
            |(
                producer_id,
                producer_epoch,
                base_sequence,
                partition_leader_epoch,
                transactional,
            )| {
                Identity {
                    producer_id,
                    producer_epoch,
                    base_sequence,
                    partition_leader_epoch,
                    transactional,
                }
            },
        )
}

/// Appends `sample` to `builder`, returning whether it fit.
pub fn append(builder: &mut BatchBuilder, sample: &Sample) -> bool {
    let headers: Vec<(&str, Option<&[u8]>)> = sample
        .headers
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_deref()))
        .collect();
    builder.append(
        sample.timestamp,
        sample.key.as_deref(),
        sample.value.as_deref(),
        &headers,
    )
}

/// Builds one batch of `samples` with our builder.
pub fn build_ours(compression: Compression, identity: Identity, samples: &[Sample]) -> Bytes {
    let mut builder = BatchBuilder::new(compression, usize::MAX);
    builder.set_producer(identity.producer_id, identity.producer_epoch);
    builder.set_base_sequence(identity.base_sequence);
    builder.set_partition_leader_epoch(identity.partition_leader_epoch);
    builder.set_transactional(identity.transactional);
    for sample in samples {
        assert!(
            append(&mut builder, sample),
            "unbounded builder accepts every record"
        );
    }
    builder.build().expect("a non-empty batch builds")
}

/// A small valid batch with keys, values, nulls and headers.
pub fn valid_batch(compression: Compression) -> Bytes {
    let samples: Vec<Sample> = (0..5)
        .map(|i| Sample {
            timestamp: 1_700_000_000_000 + i * 3 - 5,
            key: (i % 2 == 0).then(|| format!("key-{i}").into_bytes()),
            value: (i != 3).then(|| vec![b'v'; i as usize * 10]),
            headers: vec![
                ("trace".to_owned(), Some(vec![i as u8])),
                ("none".to_owned(), None),
            ],
        })
        .collect();
    let identity = Identity {
        producer_id: 42,
        producer_epoch: 3,
        base_sequence: 100,
        partition_leader_epoch: -1,
        transactional: false,
    };
    build_ours(compression, identity, &samples)
}
