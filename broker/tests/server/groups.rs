//! FindCoordinator, JoinGroup/SyncGroup and committed offsets.

use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    DeleteTopicsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, JoinGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::support::{Client, TestBroker};
use crate::{create_topic, topic_name};

fn group(name: &str) -> GroupId {
    GroupId(StrBytes::from_string(name.to_owned()))
}

async fn commit(client: &mut Client, group_id: &str, topic: &str, offset: i64) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(group(group_id))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset),
                ]),
        ]);
    client.call(7, request).await.topics[0].partitions[0].error_code
}

async fn committed(client: &mut Client, group_id: &str, topic: &str) -> i64 {
    let request = OffsetFetchRequest::default()
        .with_group_id(group(group_id))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(vec![0]),
        ]));
    client.call(7, request).await.topics[0].partitions[0].committed_offset
}

/// A group that does not exist is `Dead` without an error up to v5, and
/// GROUP_ID_NOT_FOUND (69) with a message from v6 (KIP-1043), as Kafka 4
/// answers; a group that holds committed offsets is described either way.
#[tokio::test]
async fn describing_an_unknown_group_is_group_id_not_found_from_v6() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "described", 1).await;
    assert_eq!(commit(&mut client, "known", "described", 3).await, 0);
    let request =
        || DescribeGroupsRequest::default().with_groups(vec![group("nobody"), group("known")]);
    let v5 = client.call(5, request()).await;
    assert_eq!(v5.groups[0].error_code, 0);
    assert_eq!(v5.groups[0].group_state.as_str(), "Dead");
    let v6 = client.call(6, request()).await;
    assert_eq!(v6.groups[0].error_code, 69);
    assert!(
        v6.groups[0]
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("nobody")),
        "{:?}",
        v6.groups[0].error_message
    );
    assert_eq!(v6.groups[1].error_code, 0);
    assert_eq!(v6.groups[1].group_state.as_str(), "Empty");
    broker.stop().await;
}

/// Transactions are not supported: a transaction coordinator is refused
/// with TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53), which clients treat as
/// fatal, not with a retriable error they would retry until a timeout;
/// in the single-key (v3) and the batched (v4+) encodings.
#[tokio::test]
async fn a_transaction_coordinator_is_refused_with_a_non_retriable_error() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let single = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str("txn"))
        .with_key_type(1);
    let response = client.call(3, single).await;
    assert_eq!(response.error_code, 53);
    assert_eq!(response.node_id.0, -1);
    assert!(
        response
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("transactions")),
        "{:?}",
        response.error_message
    );
    let batched = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![StrBytes::from_static_str("txn")]);
    let response = client.call(4, batched).await;
    assert_eq!(response.coordinators.len(), 1);
    assert_eq!(response.coordinators[0].error_code, 53);
    let unknown = FindCoordinatorRequest::default()
        .with_key_type(7)
        .with_coordinator_keys(vec![StrBytes::from_static_str("x")]);
    let response = client.call(4, unknown).await;
    assert_eq!(response.coordinators[0].error_code, 42, "INVALID_REQUEST");
    broker.stop().await;
}

#[tokio::test]
async fn this_node_coordinates_every_group() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let request = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"));
    let response = client.call(3, request).await;
    assert_eq!(response.error_code, 0);
    assert_eq!(response.port, i32::from(broker.addr.port()));
    broker.stop().await;
}

#[tokio::test]
async fn committed_offset_is_fetched_back() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "tracked", 1).await;
    assert_eq!(commit(&mut client, "readers", "tracked", 42).await, 0);
    assert_eq!(committed(&mut client, "readers", "tracked").await, 42);
    broker.stop().await;
}

#[tokio::test]
async fn committed_offset_survives_a_restart() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "remembered", 1).await;
    commit(&mut client, "keepers", "remembered", 7).await;
    drop(client);
    let broker = broker.restart().await;
    let mut client = broker.client().await;
    assert_eq!(committed(&mut client, "keepers", "remembered").await, 7);
    broker.stop().await;
}

/// Kafka removes a deleted topic's committed offsets from every group and
/// writes tombstones, so they do not come back when the offsets topic is
/// replayed at startup; offsets on other topics stay.
#[tokio::test]
async fn deleted_topics_offsets_stay_gone_after_a_restart() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "dropped", 1).await;
    create_topic(&mut client, "staying", 1).await;
    for group_id in ["first", "second"] {
        assert_eq!(commit(&mut client, group_id, "dropped", 5).await, 0);
    }
    assert_eq!(commit(&mut client, "second", "staying", 7).await, 0);
    let delete = DeleteTopicsRequest::default()
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name("dropped"))),
        ])
        .with_timeout_ms(10_000);
    assert_eq!(client.call(6, delete).await.responses[0].error_code, 0);
    for group_id in ["first", "second"] {
        assert_eq!(committed(&mut client, group_id, "dropped").await, -1);
    }
    drop(client);
    let broker = broker.restart().await;
    let mut client = broker.client().await;
    for group_id in ["first", "second"] {
        assert_eq!(
            committed(&mut client, group_id, "dropped").await,
            -1,
            "{group_id}"
        );
    }
    assert_eq!(committed(&mut client, "second", "staying").await, 7);
    broker.stop().await;
}

#[tokio::test]
async fn single_member_joins_leads_and_gets_its_assignment() {
    let broker = TestBroker::start_with(|c| c.group_initial_rebalance_delay_ms = 0).await;
    let mut client = broker.client().await;
    let join = |member_id: &str| {
        JoinGroupRequest::default()
            .with_group_id(group("solo"))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(StrBytes::from_string(member_id.to_owned()))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(bytes::Bytes::from_static(b"meta")),
            ])
    };
    // KIP-394: the first join without a member id is told its id.
    let first = client.call(9, join("")).await;
    let member_id = first.member_id.to_string();
    assert!(!member_id.is_empty());
    let joined = client.call(9, join(&member_id)).await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.leader.to_string(), member_id);
    let sync = SyncGroupRequest::default()
        .with_group_id(group("solo"))
        .with_generation_id(joined.generation_id)
        .with_member_id(StrBytes::from_string(member_id.clone()))
        .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
        .with_protocol_name(Some(StrBytes::from_static_str("range")))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(StrBytes::from_string(member_id))
                .with_assignment(bytes::Bytes::from_static(b"plan")),
        ]);
    let synced = client.call(5, sync).await;
    assert_eq!(synced.error_code, 0);
    assert_eq!(&synced.assignment[..], b"plan");
    broker.stop().await;
}
