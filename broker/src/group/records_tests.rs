//! `__consumer_offsets` record layout, partitioning and decoding.

use bytes::Bytes;
use proptest::prelude::*;

use super::messages::TopicPartition;
use super::records::{
    GroupValue, MemberValue, OffsetValue, RecordError, RecordKey, decode_group_value, decode_key,
    decode_offset_value, encode_group_value, encode_offset_value, group_key, java_string_hashcode,
    offset_key, offsets_partition_for,
};

#[test]
fn java_hashcode_matches_java() {
    assert_eq!(java_string_hashcode("hello"), 99_162_322);
    assert_eq!(java_string_hashcode(""), 0);
    assert_eq!(java_string_hashcode("polygenelubricants"), i32::MIN);
}

#[test]
fn partition_follows_kafka_rule_including_min_value_hash() {
    assert_eq!(offsets_partition_for("hello", 50), 99_162_322 % 50);
    assert_eq!(offsets_partition_for("polygenelubricants", 50), 0);
}

#[test]
fn offset_key_has_kafka_layout() {
    let key = offset_key(
        "g",
        &TopicPartition {
            topic: "t".into(),
            partition: 7,
        },
    );
    assert_eq!(&key[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 7]);
}

#[test]
fn group_key_has_kafka_layout() {
    assert_eq!(&group_key("g")[..], &[0, 2, 0, 1, b'g']);
}

#[test]
fn offset_value_v3_has_kafka_layout() {
    let value = OffsetValue {
        offset: 5,
        leader_epoch: 2,
        metadata: "m".into(),
        commit_timestamp_ms: 9,
        expire_timestamp_ms: None,
    };
    let bytes = encode_offset_value(&value);
    let expected: Vec<u8> = [
        &[0u8, 3][..],
        &5i64.to_be_bytes(),
        &2i32.to_be_bytes(),
        &[0, 1, b'm'],
        &9i64.to_be_bytes(),
    ]
    .concat();
    assert_eq!(&bytes[..], &expected[..]);
}

#[test]
fn flexible_v4_values_written_by_newer_kafka_decode() {
    // OffsetCommitValue v4: offset, leader epoch, compact "m", commit
    // timestamp, then one unknown tagged field (tag 7, 2 bytes).
    let offset: Vec<u8> = [
        &[0u8, 4][..],
        &5i64.to_be_bytes(),
        &2i32.to_be_bytes(),
        &[2, b'm'],
        &9i64.to_be_bytes(),
        &[1, 7, 2, 0xaa, 0xbb],
    ]
    .concat();
    let value = decode_offset_value(&offset).expect("v4 decodes");
    assert_eq!(
        (
            value.offset,
            value.leader_epoch,
            value.metadata.as_str(),
            value.commit_timestamp_ms
        ),
        (5, 2, "m", 9)
    );
    // GroupMetadataValue v4 with one member.
    let member: Vec<u8> = [
        &[2u8, b'a', 0, 2, b'c', 2, b'h'][..],
        &1i32.to_be_bytes(),
        &2i32.to_be_bytes(),
        &[2, 0x01, 2, 0x02, 0],
    ]
    .concat();
    let group: Vec<u8> = [
        &[0u8, 4, 9][..],
        b"consumer",
        &3i32.to_be_bytes(),
        &[6],
        b"range",
        &[2, b'a'],
        &7i64.to_be_bytes(),
        &[2],
        &member,
        &[0],
    ]
    .concat();
    let value = decode_group_value(&group).expect("v4 decodes");
    assert_eq!(
        (
            value.protocol_type.as_str(),
            value.generation,
            value.leader.as_deref()
        ),
        ("consumer", 3, Some("a"))
    );
    assert_eq!(value.members[0].group_instance_id, None);
    assert_eq!(
        (
            value.members[0].client_id.as_str(),
            value.members[0].session_timeout_ms
        ),
        ("c", 2)
    );
    assert_eq!(value.members[0].assignment, Bytes::from_static(&[0x02]));
}

#[test]
fn unknown_key_versions_are_reported_as_such() {
    assert_eq!(
        decode_key(&[0, 3, 0, 0]),
        Err(RecordError::UnknownKeyVersion(3))
    );
}

#[test]
fn truncated_values_are_malformed_not_panics() {
    let value = encode_offset_value(&OffsetValue {
        offset: 1,
        leader_epoch: 1,
        metadata: "x".into(),
        commit_timestamp_ms: 1,
        expire_timestamp_ms: None,
    });
    for cut in 0..value.len() {
        assert!(matches!(
            decode_offset_value(&value[..cut]),
            Err(RecordError::Malformed { .. })
        ));
    }
}

#[test]
fn absurd_member_count_is_malformed() {
    let mut value = encode_group_value(&GroupValue {
        protocol_type: String::new(),
        generation: 0,
        protocol: None,
        leader: None,
        current_state_timestamp_ms: 0,
        members: Vec::new(),
    })
    .to_vec();
    let len = value.len();
    value[len - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        decode_group_value(&value),
        Err(RecordError::Malformed { .. })
    ));
}

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9.-]{0,12}"
}

fn member() -> impl Strategy<Value = MemberValue> {
    (
        text(),
        proptest::option::of(text()),
        text(),
        text(),
        any::<i32>(),
        any::<i32>(),
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(
            |(
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                s,
                a,
            )| MemberValue {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                subscription: Bytes::from(s),
                assignment: Bytes::from(a),
            },
        )
}

proptest! {
    #[test]
    fn offset_values_round_trip(offset in any::<i64>(), leader_epoch in any::<i32>(), metadata in text(), commit in any::<i64>(), expire in proptest::option::of(any::<i64>())) {
        // v1 (with expiry) carries no leader epoch.
        let leader_epoch = if expire.is_some() { -1 } else { leader_epoch };
        let value = OffsetValue { offset, leader_epoch, metadata, commit_timestamp_ms: commit, expire_timestamp_ms: expire };
        prop_assert_eq!(decode_offset_value(&encode_offset_value(&value)), Ok(value));
    }

    #[test]
    fn group_values_round_trip(protocol_type in text(), generation in any::<i32>(), protocol in proptest::option::of(text()), leader in proptest::option::of(text()), ts in any::<i64>(), members in proptest::collection::vec(member(), 0..4)) {
        let value = GroupValue { protocol_type, generation, protocol, leader, current_state_timestamp_ms: ts, members };
        prop_assert_eq!(decode_group_value(&encode_group_value(&value)), Ok(value));
    }

    #[test]
    fn keys_round_trip(group_id in text(), topic in text(), partition in any::<i32>()) {
        let tp = TopicPartition { topic, partition };
        prop_assert_eq!(decode_key(&offset_key(&group_id, &tp)), Ok(RecordKey::Offset { group_id: group_id.clone(), partition: tp }));
        prop_assert_eq!(decode_key(&group_key(&group_id)), Ok(RecordKey::Group { group_id }));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_key(&bytes);
        let _ = decode_offset_value(&bytes);
        let _ = decode_group_value(&bytes);
    }
}
