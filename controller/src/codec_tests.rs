//! Round trips and rejections of the record codec.

use std::collections::BTreeMap;

use proptest::prelude::*;
use uuid::Uuid;

use crate::codec::{CodecError, decode_batch, encode_batch};
use crate::records::{
    BrokerEndpoint, BrokerEpochRef, ConfigRecord, ConfigResource, MetadataRecord,
    PartitionChangeRecord, PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord, TopicRecord,
};

fn any_uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn any_epoch_ref() -> impl Strategy<Value = BrokerEpochRef> {
    (any::<i32>(), any::<i64>()).prop_map(|(broker_id, broker_epoch)| BrokerEpochRef {
        broker_id,
        broker_epoch,
    })
}

fn any_record() -> impl Strategy<Value = MetadataRecord> {
    let endpoint = (".{0,8}", ".{0,8}", any::<u16>(), any::<i16>()).prop_map(
        |(name, host, port, security_protocol)| BrokerEndpoint {
            name,
            host,
            port,
            security_protocol,
        },
    );
    let ids = proptest::collection::vec(any::<i32>(), 0..5);
    prop_oneof![
        (
            any::<i32>(),
            any_uuid(),
            any::<i64>(),
            proptest::collection::vec(endpoint, 0..3),
            proptest::option::of(".{0,5}")
        )
            .prop_map(
                |(broker_id, incarnation_id, broker_epoch, endpoints, rack)| {
                    MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                        broker_id,
                        incarnation_id,
                        broker_epoch,
                        endpoints,
                        rack,
                    })
                }
            ),
        any_epoch_ref().prop_map(MetadataRecord::UnregisterBroker),
        any_epoch_ref().prop_map(MetadataRecord::FenceBroker),
        any_epoch_ref().prop_map(MetadataRecord::UnfenceBroker),
        any_epoch_ref().prop_map(MetadataRecord::BrokerControlledShutdown),
        (
            any_uuid(),
            ".{0,10}",
            proptest::collection::btree_map(".{0,6}", ".{0,6}", 0..3)
        )
            .prop_map(
                |(topic_id, name, configs)| MetadataRecord::Topic(TopicRecord {
                    topic_id,
                    name,
                    configs,
                })
            ),
        (
            any_uuid(),
            any::<i32>(),
            ids.clone(),
            ids.clone(),
            any::<[i32; 3]>()
        )
            .prop_map(
                |(topic_id, partition, replicas, isr, [leader, leader_epoch, partition_epoch])| {
                    MetadataRecord::Partition(PartitionRecord {
                        topic_id,
                        partition,
                        replicas,
                        isr,
                        leader,
                        leader_epoch,
                        partition_epoch,
                    })
                }
            ),
        (any_uuid(), ids, any::<[i32; 4]>()).prop_map(
            |(topic_id, isr, [partition, leader, leader_epoch, partition_epoch])| {
                MetadataRecord::PartitionChange(PartitionChangeRecord {
                    topic_id,
                    partition,
                    leader,
                    isr,
                    leader_epoch,
                    partition_epoch,
                })
            }
        ),
        (
            prop_oneof![
                ".{0,6}".prop_map(ConfigResource::Topic),
                any::<i32>().prop_map(ConfigResource::Broker),
                Just(ConfigResource::Cluster)
            ],
            ".{0,6}",
            proptest::option::of(".{0,6}")
        )
            .prop_map(
                |(resource, name, value)| MetadataRecord::Config(ConfigRecord {
                    resource,
                    name,
                    value,
                })
            ),
        any_uuid().prop_map(|topic_id| MetadataRecord::RemoveTopic { topic_id }),
        (any_epoch_ref(), any::<i64>(), any::<i64>()).prop_map(
            |(broker, first_producer_id, block_size)| {
                MetadataRecord::ProducerIds(ProducerIdsRecord {
                    broker,
                    first_producer_id,
                    block_size,
                })
            }
        ),
    ]
}

proptest! {
    #[test]
    fn every_batch_round_trips(records in proptest::collection::vec(any_record(), 0..8)) {
        let bytes = encode_batch(&records);
        prop_assert_eq!(decode_batch(&bytes).unwrap(), records);
    }

    #[test]
    fn encoding_is_deterministic(records in proptest::collection::vec(any_record(), 0..8)) {
        prop_assert_eq!(encode_batch(&records), encode_batch(&records.clone()));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_batch(&bytes);
    }
}

#[test]
fn unknown_format_version_is_rejected() {
    let mut bytes = encode_batch(&[]);
    bytes[0] = 9;
    assert!(matches!(
        decode_batch(&bytes),
        Err(CodecError::UnknownVersion(9))
    ));
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = encode_batch(&[MetadataRecord::RemoveTopic {
        topic_id: Uuid::from_u128(1),
    }]);
    bytes.push(0);
    assert!(matches!(
        decode_batch(&bytes),
        Err(CodecError::TrailingBytes(1))
    ));
}

#[test]
fn truncated_batch_is_rejected() {
    let bytes = encode_batch(&[MetadataRecord::Topic(TopicRecord {
        topic_id: Uuid::from_u128(1),
        name: "orders".into(),
        configs: BTreeMap::new(),
    })]);
    assert!(matches!(
        decode_batch(&bytes[..bytes.len() - 2]),
        Err(CodecError::Malformed(_))
    ));
}

#[test]
fn huge_claimed_sequence_length_does_not_allocate_it() {
    // Version 0, then a varint claiming u32::MAX records, then nothing.
    let bytes = [0u8, 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(matches!(
        decode_batch(&bytes),
        Err(CodecError::Malformed(_))
    ));
}
