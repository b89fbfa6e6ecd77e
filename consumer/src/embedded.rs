//! The embedded "consumer" protocol: the subscription a member puts in
//! JoinGroup and the assignment the leader puts in SyncGroup, encoded as
//! Kafka's `ConsumerProtocol` does (an `int16` version, then the message at
//! that version), so Java and librdkafka members can share a group with ours.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::assignor::MemberSubscription;
use crate::error::{ConsumerError, Result};
use crate::partition::TopicPartition;

/// The protocol type of consumer groups in JoinGroup.
pub(crate) const PROTOCOL_TYPE: &str = "consumer";
/// The version we write: v3 carries owned partitions, generation and rack.
const SUBSCRIPTION_VERSION: i16 = 3;
/// The assignment version we write (v1+ is identical to v0 on the wire except for v1's user data).
const ASSIGNMENT_VERSION: i16 = 3;
/// The newest versions we decode; newer ones are read as these, as Kafka does,
/// since later versions only append fields.
const MAX_SUBSCRIPTION_VERSION: i16 = 3;
const MAX_ASSIGNMENT_VERSION: i16 = 3;

fn malformed(what: &'static str, reason: impl ToString) -> ConsumerError {
    ConsumerError::EmbeddedProtocol {
        what,
        reason: reason.to_string(),
    }
}

/// Groups partitions by topic, in order.
fn by_topic(partitions: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics.entry(&tp.topic).or_default().push(tp.partition);
    }
    topics
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn encode_versioned<M: Encodable>(message: &M, version: i16, what: &'static str) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    message
        .encode(&mut buf, version)
        .map_err(|e| malformed(what, e))?;
    Ok(buf.freeze())
}

fn decode_versioned<M: Decodable>(mut bytes: Bytes, max: i16, what: &'static str) -> Result<M> {
    if bytes.len() < 2 {
        return Err(malformed(what, "shorter than its version field"));
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(malformed(what, format!("negative version {version}")));
    }
    M::decode(&mut bytes, version.min(max)).map_err(|e| malformed(what, e))
}

/// Encodes this member's subscription for JoinGroup.
///
/// # Errors
/// [`ConsumerError::EmbeddedProtocol`] when a field is not representable.
pub(crate) fn encode_subscription(
    topics: &[String],
    owned: &[TopicPartition],
    generation: i32,
) -> Result<Bytes> {
    let subscription = ConsumerProtocolSubscription::default()
        .with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        )
        .with_owned_partitions(
            by_topic(owned)
                .into_iter()
                .map(|(topic, partitions)| {
                    OwnedTopic::default()
                        .with_topic(topic_name(topic))
                        .with_partitions(partitions)
                })
                .collect(),
        )
        .with_generation_id(generation);
    encode_versioned(&subscription, SUBSCRIPTION_VERSION, "subscription")
}

/// Decodes a member's subscription from the JoinGroup response (leader only).
///
/// # Errors
/// [`ConsumerError::EmbeddedProtocol`] for malformed metadata.
pub(crate) fn decode_subscription(
    member_id: &str,
    group_instance_id: Option<&str>,
    metadata: Bytes,
) -> Result<MemberSubscription> {
    let subscription: ConsumerProtocolSubscription =
        decode_versioned(metadata, MAX_SUBSCRIPTION_VERSION, "subscription")?;
    let owned_partitions = subscription
        .owned_partitions
        .iter()
        .flat_map(|owned| {
            let topic: Arc<str> = owned.topic.0.as_str().into();
            owned
                .partitions
                .iter()
                .map(move |&p| TopicPartition::new(topic.clone(), p))
        })
        .collect();
    Ok(MemberSubscription {
        member_id: member_id.to_owned(),
        group_instance_id: group_instance_id.map(str::to_owned),
        topics: subscription.topics.iter().map(|t| t.to_string()).collect(),
        owned_partitions,
        generation: subscription.generation_id,
    })
}

/// Encodes one member's assignment for SyncGroup.
///
/// # Errors
/// [`ConsumerError::EmbeddedProtocol`] when a field is not representable.
pub(crate) fn encode_assignment(partitions: &[TopicPartition]) -> Result<Bytes> {
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        by_topic(partitions)
            .into_iter()
            .map(|(topic, partitions)| {
                AssignedTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(partitions)
            })
            .collect(),
    );
    encode_versioned(&assignment, ASSIGNMENT_VERSION, "assignment")
}

/// Decodes this member's assignment from SyncGroup; an empty buffer is an
/// empty assignment (what the coordinator sends members the leader left out).
///
/// # Errors
/// [`ConsumerError::EmbeddedProtocol`] for a malformed assignment.
pub(crate) fn decode_assignment(bytes: Bytes) -> Result<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let assignment: ConsumerProtocolAssignment =
        decode_versioned(bytes, MAX_ASSIGNMENT_VERSION, "assignment")?;
    let mut partitions: Vec<TopicPartition> = assignment
        .assigned_partitions
        .iter()
        .flat_map(|assigned| {
            let topic: Arc<str> = assigned.topic.0.as_str().into();
            assigned
                .partitions
                .iter()
                .map(move |&p| TopicPartition::new(topic.clone(), p))
        })
        .collect();
    partitions.sort();
    Ok(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_round_trips_with_owned_partitions() {
        let owned = vec![TopicPartition::new("a", 1), TopicPartition::new("b", 0)];
        let bytes = encode_subscription(&["a".to_owned(), "b".to_owned()], &owned, 7);
        let decoded = bytes
            .and_then(|b| decode_subscription("m", Some("i"), b))
            .ok();
        let decoded = decoded.as_ref();
        assert_eq!(decoded.map(|s| s.owned_partitions.clone()), Some(owned));
        assert_eq!(decoded.map(|s| s.generation), Some(7));
        assert_eq!(decoded.map(|s| s.topics.len()), Some(2));
    }

    #[test]
    fn assignment_round_trips_sorted() {
        let partitions = vec![TopicPartition::new("b", 2), TopicPartition::new("a", 0)];
        let decoded = encode_assignment(&partitions)
            .and_then(decode_assignment)
            .ok();
        assert_eq!(
            decoded,
            Some(vec![
                TopicPartition::new("a", 0),
                TopicPartition::new("b", 2)
            ])
        );
    }

    #[test]
    fn subscription_from_a_newer_version_is_read_as_the_newest_known() {
        let bytes = encode_subscription(&["t".to_owned()], &[], 1).ok();
        let mut newer = BytesMut::new();
        newer.put_i16(9);
        newer.extend_from_slice(bytes.as_ref().map_or(&[][..], |b| &b[2..]));
        let decoded = decode_subscription("m", None, newer.freeze()).ok();
        assert_eq!(
            decoded.map(|s| s.topics.into_iter().collect::<Vec<_>>()),
            Some(vec!["t".to_owned()])
        );
    }

    #[test]
    fn empty_assignment_bytes_mean_no_partitions() {
        assert_eq!(decode_assignment(Bytes::new()).ok(), Some(Vec::new()));
    }

    #[test]
    fn truncated_subscription_is_an_error() {
        assert!(decode_subscription("m", None, Bytes::from_static(&[0])).is_err());
    }
}
