//! The zero-copy Fetch response encoder against `kafka-protocol`'s own.
//!
//! Random responses (topics, partitions, error codes, aborted transactions,
//! tagged fields, records of random lengths including null and empty) are
//! encoded both ways at every version; the chunks must join to exactly the
//! bytes `kafka-protocol` writes, header and correlation id included, the
//! same inputs must be refused, and the result must decode again.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData, SnapshotId,
};
use kafka_protocol::messages::{BrokerId, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use sluice_protocol::{
    FETCH_RESPONSE_MAX_VERSION, FETCH_RESPONSE_MIN_VERSION, decode_response, encode_fetch_response,
    encode_response,
};
use uuid::Uuid;

fn text(max: usize) -> impl Strategy<Value = StrBytes> {
    proptest::string::string_regex(&format!("[a-z0-9._-]{{0,{max}}}"))
        .expect("the pattern is a valid regex")
        .prop_map(StrBytes::from_string)
}

/// Unknown tagged fields with tags from `first_free` on (lower tags are the
/// message's known ones).
fn unknown_tags(first_free: i32) -> impl Strategy<Value = BTreeMap<i32, Bytes>> {
    btree_map(
        first_free..first_free + 6,
        vec(any::<u8>(), 0..8).prop_map(Bytes::from),
        0..2,
    )
}

/// Records: null, empty, short, or long enough for multi-byte lengths.
fn records() -> impl Strategy<Value = Option<Bytes>> {
    prop_oneof![
        Just(None),
        Just(Some(Bytes::new())),
        vec(any::<u8>(), 1..300).prop_map(|bytes| Some(Bytes::from(bytes))),
        (1usize..40_000).prop_map(|len| Some(Bytes::from(vec![0x5a; len]))),
    ]
}

fn aborted_transaction() -> impl Strategy<Value = AbortedTransaction> {
    (any::<i64>(), any::<i64>(), unknown_tags(0)).prop_map(|(producer, first, tags)| {
        AbortedTransaction::default()
            .with_producer_id(ProducerId(producer))
            .with_first_offset(first)
            .with_unknown_tagged_fields(tags)
    })
}

/// Mostly the default (not sent), sometimes set (sent as a tagged field).
fn diverging_epoch() -> impl Strategy<Value = EpochEndOffset> {
    prop_oneof![
        3 => Just(EpochEndOffset::default()),
        1 => (any::<i32>(), any::<i64>())
            .prop_map(|(epoch, end)| EpochEndOffset::default().with_epoch(epoch).with_end_offset(end)),
    ]
}

fn current_leader() -> impl Strategy<Value = LeaderIdAndEpoch> {
    prop_oneof![
        3 => Just(LeaderIdAndEpoch::default()),
        1 => (any::<i32>(), any::<i32>()).prop_map(|(leader, epoch)| {
            LeaderIdAndEpoch::default().with_leader_id(BrokerId(leader)).with_leader_epoch(epoch)
        }),
    ]
}

fn snapshot_id() -> impl Strategy<Value = SnapshotId> {
    prop_oneof![
        3 => Just(SnapshotId::default()),
        1 => (any::<i64>(), any::<i32>())
            .prop_map(|(end, epoch)| SnapshotId::default().with_end_offset(end).with_epoch(epoch)),
    ]
}

/// Mostly -1 (valid at every version), sometimes a replica (v11+ only).
fn preferred_read_replica() -> impl Strategy<Value = i32> {
    prop_oneof![6 => Just(-1), 1 => any::<i32>()]
}

fn partition() -> impl Strategy<Value = PartitionData> {
    (
        (
            any::<i32>(),
            any::<i16>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
        ),
        option::of(vec(aborted_transaction(), 0..3)),
        preferred_read_replica(),
        records(),
        (diverging_epoch(), current_leader(), snapshot_id()),
        unknown_tags(3),
    )
        .prop_map(
            |((index, error, high, stable, start), aborted, replica, records, tagged, tags)| {
                PartitionData::default()
                    .with_partition_index(index)
                    .with_error_code(error)
                    .with_high_watermark(high)
                    .with_last_stable_offset(stable)
                    .with_log_start_offset(start)
                    .with_aborted_transactions(aborted)
                    .with_preferred_read_replica(BrokerId(replica))
                    .with_records(records)
                    .with_diverging_epoch(tagged.0)
                    .with_current_leader(tagged.1)
                    .with_snapshot_id(tagged.2)
                    .with_unknown_tagged_fields(tags)
            },
        )
}

fn topic() -> impl Strategy<Value = FetchableTopicResponse> {
    (
        text(200),
        any::<[u8; 16]>(),
        vec(partition(), 0..4),
        unknown_tags(0),
    )
        .prop_map(|(name, id, partitions, tags)| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(name))
                .with_topic_id(Uuid::from_bytes(id))
                .with_partitions(partitions)
                .with_unknown_tagged_fields(tags)
        })
}

fn node_endpoint() -> impl Strategy<Value = NodeEndpoint> {
    (any::<i32>(), text(20), any::<i32>(), option::of(text(8))).prop_map(
        |(node, host, port, rack)| {
            NodeEndpoint::default()
                .with_node_id(BrokerId(node))
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        },
    )
}

fn fetch_response() -> impl Strategy<Value = FetchResponse> {
    (
        (any::<i32>(), any::<i16>()),
        prop_oneof![6 => Just(0), 1 => any::<i32>()],
        vec(topic(), 0..4),
        vec(node_endpoint(), 0..3),
        unknown_tags(1),
    )
        .prop_map(|((throttle, error), session, topics, endpoints, tags)| {
            FetchResponse::default()
                .with_throttle_time_ms(throttle)
                .with_error_code(error)
                .with_session_id(session)
                .with_responses(topics)
                .with_node_endpoints(endpoints)
                .with_unknown_tagged_fields(tags)
        })
}

fn version() -> impl Strategy<Value = i16> {
    FETCH_RESPONSE_MIN_VERSION..=FETCH_RESPONSE_MAX_VERSION
}

fn records_of(response: &FetchResponse) -> Vec<Option<Bytes>> {
    response
        .responses
        .iter()
        .flat_map(|topic| topic.partitions.iter().map(|p| p.records.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn chunks_equal_kafka_protocol_encoding_at_every_version(
        response in fetch_response(),
        version in version(),
        correlation_id in any::<i32>(),
    ) {
        let expected = encode_response(correlation_id, version, &response);
        let chunks = encode_fetch_response(correlation_id, version, &response);
        match (expected, chunks) {
            (Ok(expected), Ok(chunks)) => {
                prop_assert_eq!(chunks.len(), expected.len());
                prop_assert_eq!(chunks.to_bytes(), expected);
            }
            (Err(_), Err(_)) => {}
            (expected, chunks) => prop_assert!(
                false,
                "kafka-protocol: {:?}, chunks: {:?}",
                expected.map(|bytes| bytes.len()),
                chunks.map(|chunks| chunks.len())
            ),
        }
    }

    #[test]
    fn chunks_decode_back_to_the_same_records(
        response in fetch_response(),
        version in version(),
        correlation_id in any::<i32>(),
    ) {
        let Ok(chunks) = encode_fetch_response(correlation_id, version, &response) else {
            return Ok(());
        };
        let (decoded_id, decoded) =
            decode_response::<FetchResponse>(chunks.to_bytes(), version).unwrap();
        prop_assert_eq!(decoded_id, correlation_id);
        prop_assert_eq!(records_of(&decoded), records_of(&response));
        let again = encode_fetch_response(correlation_id, version, &decoded).unwrap();
        prop_assert_eq!(again.to_bytes(), chunks.to_bytes());
    }

    #[test]
    fn non_empty_records_are_chunks_of_their_own(
        response in fetch_response(),
        version in version(),
    ) {
        let Ok(chunks) = encode_fetch_response(0, version, &response) else {
            return Ok(());
        };
        let shared: Vec<*const u8> = chunks.chunks().iter().map(|chunk| chunk.as_ptr()).collect();
        for records in records_of(&response).into_iter().flatten().filter(|r| !r.is_empty()) {
            prop_assert!(shared.contains(&records.as_ptr()));
        }
    }
}
