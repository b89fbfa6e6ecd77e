//! Our RecordBatch v2 codec against kafka-protocol's, in both directions,
//! for every compression codec.

mod support;

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Record as KafkaRecord, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as KafkaTimestampType,
};
use proptest::prelude::*;
use sluice_protocol::{Compression, Record, RecordBatchView, RecordBatches};
use support::{
    ALL_CODECS, Identity, MAX_DECOMPRESSED_BYTES, Sample, build_ours, identity_strategy,
    samples_strategy, to_kafka,
};

fn codec_strategy() -> impl Strategy<Value = Compression> {
    proptest::sample::select(ALL_CODECS.to_vec())
}

fn to_kafka_records(base_offset: i64, identity: Identity, samples: &[Sample]) -> Vec<KafkaRecord> {
    samples
        .iter()
        .enumerate()
        .map(|(index, sample)| KafkaRecord {
            transactional: identity.transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: identity.partition_leader_epoch,
            producer_id: identity.producer_id,
            producer_epoch: identity.producer_epoch,
            timestamp_type: KafkaTimestampType::Creation,
            offset: base_offset + index as i64,
            sequence: identity.base_sequence + index as i32,
            timestamp: sample.timestamp,
            key: sample.key.clone().map(Bytes::from),
            value: sample.value.clone().map(Bytes::from),
            headers: sample
                .headers
                .iter()
                .map(|(key, value)| {
                    (
                        StrBytes::from_string(key.clone()),
                        value.clone().map(Bytes::from),
                    )
                })
                .collect(),
        })
        .collect()
}

fn encode_theirs(compression: Compression, records: &[KafkaRecord]) -> Bytes {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: to_kafka(compression),
    };
    RecordBatchEncoder::encode(&mut buf, records, &options).expect("kafka-protocol encodes");
    buf.freeze()
}

fn assert_record_matches(ours: &Record, sample: &Sample, offset: i64) {
    assert_eq!(ours.offset, offset);
    assert_eq!(ours.timestamp, sample.timestamp);
    assert_eq!(ours.key.as_deref(), sample.key.as_deref());
    assert_eq!(ours.value.as_deref(), sample.value.as_deref());
    let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = ours
        .headers
        .iter()
        .map(|header| (header.key.to_vec(), header.value.map(|v| v.to_vec())))
        .collect();
    let expected: Vec<(Vec<u8>, Option<Vec<u8>>)> = sample
        .headers
        .iter()
        .map(|(key, value)| (key.clone().into_bytes(), value.clone()))
        .collect();
    assert_eq!(headers, expected);
}

fn check_ours_decoded_by_theirs(compression: Compression, identity: Identity, samples: &[Sample]) {
    let mut batch = build_ours(compression, identity, samples);
    let set = RecordBatchDecoder::decode(&mut batch).expect("kafka-protocol decodes our batch");
    assert_eq!(set.compression, to_kafka(compression));
    let expected = to_kafka_records(0, identity, samples);
    assert_eq!(set.records, expected);
}

fn check_theirs_decoded_by_ours(compression: Compression, identity: Identity, samples: &[Sample]) {
    let base_offset = 1_000;
    let records = to_kafka_records(base_offset, identity, samples);
    let buf = encode_theirs(compression, &records);
    let batches: Vec<RecordBatchView> = RecordBatches::new(buf)
        .collect::<Result<_, _>>()
        .expect("their batch parses");
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    batch.verify_crc().expect("their CRC verifies");
    let summary = batch
        .validate(MAX_DECOMPRESSED_BYTES)
        .expect("their batch validates");
    assert_eq!(summary.record_count as usize, samples.len());
    assert_eq!(batch.compression(), compression);
    assert_eq!(batch.base_offset(), base_offset);
    assert_eq!(batch.producer_id(), identity.producer_id);
    assert_eq!(batch.producer_epoch(), identity.producer_epoch);
    assert_eq!(batch.base_sequence(), identity.base_sequence);
    assert_eq!(
        batch.partition_leader_epoch(),
        identity.partition_leader_epoch
    );
    assert_eq!(batch.is_transactional(), identity.transactional);
    let max_timestamp = samples.iter().map(|s| s.timestamp).max();
    assert_eq!(Some(batch.max_timestamp()), max_timestamp);
    let ours: Vec<Record> = batch
        .records(MAX_DECOMPRESSED_BYTES)
        .expect("records decompress")
        .collect::<Result<_, _>>()
        .expect("records decode");
    assert_eq!(ours.len(), samples.len());
    for (index, (record, sample)) in ours.iter().zip(samples).enumerate() {
        assert_record_matches(record, sample, base_offset + index as i64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn batches_we_build_decode_identically_in_kafka_protocol(
        compression in codec_strategy(),
        identity in identity_strategy(),
        samples in samples_strategy(40),
    ) {
        check_ours_decoded_by_theirs(compression, identity, &samples);
    }

    #[test]
    fn batches_kafka_protocol_builds_decode_identically_in_ours(
        compression in codec_strategy(),
        identity in identity_strategy(),
        samples in samples_strategy(40),
    ) {
        check_theirs_decoded_by_ours(compression, identity, &samples);
    }
}

fn many_samples(count: usize) -> Vec<Sample> {
    (0..count)
        .map(|i| Sample {
            // Wander back and forth around the first timestamp.
            timestamp: 1_700_000_000_000 + ((i as i64 * 7919 + 500) % 2001) - 1000,
            key: (i % 3 != 0).then(|| format!("key-{}", i % 97).into_bytes()),
            value: (i % 11 != 0).then(|| format!("value number {i} ").repeat(i % 13).into_bytes()),
            headers: if i % 5 == 0 {
                vec![("h".to_owned(), Some(vec![i as u8; 3]))]
            } else {
                Vec::new()
            },
        })
        .collect()
}

const MANY_IDENTITY: Identity = Identity {
    producer_id: 7,
    producer_epoch: 1,
    base_sequence: 500,
    partition_leader_epoch: 4,
    transactional: false,
};

#[test]
fn many_records_round_trip_through_kafka_protocol_with_every_codec() {
    let samples = many_samples(10_000);
    for compression in ALL_CODECS {
        check_ours_decoded_by_theirs(compression, MANY_IDENTITY, &samples);
        check_theirs_decoded_by_ours(compression, MANY_IDENTITY, &samples);
    }
}

#[test]
fn uncompressed_batch_is_byte_identical_to_kafka_protocol() {
    // kafka-protocol bases timestamps on the minimum, we on the first record:
    // with a non-decreasing first timestamp the encodings coincide.
    let mut samples = many_samples(100);
    let min = samples
        .iter()
        .map(|s| s.timestamp)
        .min()
        .unwrap_or_default();
    samples[0].timestamp = min;
    let ours = build_ours(Compression::None, MANY_IDENTITY, &samples);
    let theirs = encode_theirs(
        Compression::None,
        &to_kafka_records(0, MANY_IDENTITY, &samples),
    );
    assert_eq!(ours, theirs);
}
