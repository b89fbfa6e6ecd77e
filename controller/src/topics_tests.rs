//! Topic decisions: CreateTopics, CreatePartitions, DeleteTopics.

use std::collections::{BTreeMap, BTreeSet};

use sluice_protocol::ErrorCode;
use uuid::Uuid;

use crate::messages::{
    CreatableTopic, CreatePartitionsRequest, CreatePartitionsTopic, CreateTopicsRequest,
    DeleteTopicsRequest,
};
use crate::testing::Harness;

fn request(topic: CreatableTopic) -> CreateTopicsRequest {
    CreateTopicsRequest {
        topics: vec![topic],
        validate_only: false,
    }
}

fn ids() -> impl FnMut() -> Uuid {
    let mut n = 500;
    move || {
        n += 1;
        Uuid::from_u128(n)
    }
}

#[test]
fn created_topic_has_its_partitions_led_by_their_first_replica() {
    let mut h = Harness::live_brokers(3, &[]);
    let created = h.create_topic("orders", 4, 2);
    assert_eq!(created.error, ErrorCode::None);
    assert_eq!((created.num_partitions, created.replication_factor), (4, 2));
    let topic = h.image.topic_by_name("orders").unwrap();
    assert_eq!(topic.topic_id, created.topic_id);
    for state in topic.partitions.values() {
        assert_eq!(state.leader, state.replicas[0]);
        assert_eq!(state.isr, state.replicas);
        assert_eq!((state.leader_epoch, state.partition_epoch), (0, 0));
    }
}

#[test]
fn replication_factor_above_live_brokers_is_refused() {
    let mut h = Harness::live_brokers(2, &[]);
    let created = h.create_topic("t", 1, 3);
    assert_eq!(created.error, ErrorCode::InvalidReplicationFactor);
    assert!(h.image.topic_by_name("t").is_none());
}

#[test]
fn fenced_brokers_do_not_count_as_live_for_placement() {
    let mut h = Harness::live_brokers(2, &[]);
    h.register(3, None); // registered, still fenced
    assert_eq!(
        h.create_topic("t", 1, 3).error,
        ErrorCode::InvalidReplicationFactor
    );
}

#[test]
fn defaults_apply_when_counts_are_minus_one() {
    let mut h = Harness::live_brokers(1, &[]);
    let created = h.create_topic("t", -1, -1);
    assert_eq!((created.num_partitions, created.replication_factor), (1, 1));
}

#[test]
fn existing_topic_is_refused() {
    let mut h = Harness::live_brokers(1, &[]);
    h.create_topic("t", 1, 1);
    assert_eq!(
        h.create_topic("t", 1, 1).error,
        ErrorCode::TopicAlreadyExists
    );
}

#[test]
fn illegal_names_are_refused() {
    let mut h = Harness::live_brokers(1, &[]);
    let long = "x".repeat(250);
    for name in ["", ".", "..", "a b", "ü", long.as_str()] {
        assert_eq!(
            h.create_topic(name, 1, 1).error,
            ErrorCode::InvalidTopicException,
            "{name:?}"
        );
    }
}

#[test]
fn zero_partitions_or_replication_factor_is_refused() {
    let mut h = Harness::live_brokers(1, &[]);
    assert_eq!(
        h.create_topic("a", 0, 1).error,
        ErrorCode::InvalidPartitions
    );
    assert_eq!(
        h.create_topic("b", 1, 0).error,
        ErrorCode::InvalidReplicationFactor
    );
}

#[test]
fn too_many_partitions_in_one_request_is_refused() {
    let mut h = Harness::live_brokers(1, &[]);
    let limit = h.state.config().max_partitions_per_request;
    assert_eq!(
        h.create_topic("a", limit + 1, 1).error,
        ErrorCode::InvalidPartitions
    );
}

#[test]
fn topic_named_twice_in_one_request_is_refused_both_times() {
    let h = Harness::live_brokers(1, &[]);
    let topic = CreatableTopic {
        name: "t".into(),
        num_partitions: 1,
        replication_factor: 1,
        ..Default::default()
    };
    let req = CreateTopicsRequest {
        topics: vec![topic.clone(), topic],
        validate_only: false,
    };
    let decision = h.state.create_topics(&h.image, &req, &mut ids());
    assert!(decision.records.is_empty());
    assert!(
        decision
            .response
            .iter()
            .all(|t| t.error == ErrorCode::InvalidRequest)
    );
}

#[test]
fn validate_only_writes_nothing() {
    let h = Harness::live_brokers(3, &[]);
    let mut req = request(CreatableTopic {
        name: "t".into(),
        num_partitions: 3,
        replication_factor: 3,
        ..Default::default()
    });
    req.validate_only = true;
    let decision = h.state.create_topics(&h.image, &req, &mut ids());
    assert!(decision.records.is_empty());
    assert_eq!(decision.response[0].error, ErrorCode::None);
}

#[test]
fn explicit_assignments_are_used_as_given() {
    let mut h = Harness::live_brokers(3, &[]);
    let assignments = BTreeMap::from([(0, vec![3, 1]), (1, vec![2, 3])]);
    let req = request(CreatableTopic {
        name: "t".into(),
        num_partitions: -1,
        replication_factor: -1,
        assignments,
        ..Default::default()
    });
    let decision = h.state.create_topics(&h.image, &req, &mut ids());
    assert_eq!(decision.response[0].error, ErrorCode::None);
    h.commit(&decision.records);
    let id = decision.response[0].topic_id;
    assert_eq!(h.image.partition(id, 0).unwrap().replicas, vec![3, 1]);
    assert_eq!(h.image.leader(id, 1), Some(2));
}

#[test]
fn bad_explicit_assignments_are_refused() {
    let h = Harness::live_brokers(3, &[]);
    let cases = [
        BTreeMap::from([(0, vec![1, 1])]),               // repeated broker
        BTreeMap::from([(1, vec![1])]),                  // not from 0
        BTreeMap::from([(0, vec![1]), (1, vec![1, 2])]), // lengths differ
        BTreeMap::from([(0, vec![9])]),                  // unknown broker
        BTreeMap::from([(0, Vec::new())]),               // empty
    ];
    for assignments in cases {
        let req = request(CreatableTopic {
            name: "t".into(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: assignments.clone(),
            ..Default::default()
        });
        let decision = h.state.create_topics(&h.image, &req, &mut ids());
        assert_eq!(
            decision.response[0].error,
            ErrorCode::InvalidReplicaAssignment,
            "{assignments:?}"
        );
    }
}

#[test]
fn assignments_with_counts_set_are_an_invalid_request() {
    let h = Harness::live_brokers(1, &[]);
    let req = request(CreatableTopic {
        name: "t".into(),
        num_partitions: 1,
        replication_factor: -1,
        assignments: BTreeMap::from([(0, vec![1])]),
        ..Default::default()
    });
    let decision = h.state.create_topics(&h.image, &req, &mut ids());
    assert_eq!(decision.response[0].error, ErrorCode::InvalidRequest);
}

#[test]
fn rack_aware_placement_puts_replicas_on_distinct_racks() {
    let mut h = Harness::live_brokers(6, &["a", "b", "c"]);
    let created = h.create_topic("t", 12, 3);
    for (_, state) in h.image.partitions(created.topic_id) {
        let racks: BTreeSet<_> = state
            .replicas
            .iter()
            .map(|b| h.image.broker(*b).unwrap().rack.clone())
            .collect();
        assert_eq!(racks.len(), 3, "{:?}", state.replicas);
    }
}

#[test]
fn create_partitions_adds_placed_partitions() {
    let mut h = Harness::live_brokers(3, &[]);
    let created = h.create_topic("t", 2, 2);
    let req = CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: "t".into(),
            count: 5,
            assignments: None,
        }],
        validate_only: false,
    };
    let decision = h.state.create_partitions(&h.image, &req);
    assert_eq!(decision.response[0].error, ErrorCode::None);
    h.commit(&decision.records);
    assert_eq!(h.image.partitions(created.topic_id).count(), 5);
    for (_, state) in h.image.partitions(created.topic_id) {
        assert_eq!(state.replicas.len(), 2);
    }
}

#[test]
fn create_partitions_refuses_shrinking_or_unknown_topics() {
    let mut h = Harness::live_brokers(1, &[]);
    h.create_topic("t", 2, 1);
    let req = CreatePartitionsRequest {
        topics: vec![
            CreatePartitionsTopic {
                name: "t".into(),
                count: 2,
                assignments: None,
            },
            CreatePartitionsTopic {
                name: "nope".into(),
                count: 3,
                assignments: None,
            },
        ],
        validate_only: false,
    };
    let decision = h.state.create_partitions(&h.image, &req);
    assert!(decision.records.is_empty());
    assert_eq!(decision.response[0].error, ErrorCode::InvalidPartitions);
    assert_eq!(
        decision.response[1].error,
        ErrorCode::UnknownTopicOrPartition
    );
}

#[test]
fn create_partitions_checks_explicit_lists_against_the_replication_factor() {
    let mut h = Harness::live_brokers(3, &[]);
    h.create_topic("t", 1, 2);
    let req = CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: "t".into(),
            count: 2,
            assignments: Some(vec![vec![1]]),
        }],
        validate_only: false,
    };
    let decision = h.state.create_partitions(&h.image, &req);
    assert_eq!(
        decision.response[0].error,
        ErrorCode::InvalidReplicaAssignment
    );
}

#[test]
fn delete_topics_by_name_and_id() {
    let mut h = Harness::live_brokers(1, &[]);
    h.create_topic("a", 1, 1);
    let b = h.create_topic("b", 1, 1);
    let req = DeleteTopicsRequest {
        names: vec!["a".into(), "zzz".into()],
        topic_ids: vec![b.topic_id, Uuid::from_u128(99_999)],
    };
    let decision = h.state.delete_topics(&h.image, &req);
    let errors: Vec<_> = decision.response.iter().map(|t| t.error).collect();
    assert_eq!(
        errors,
        [
            ErrorCode::None,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::None,
            ErrorCode::UnknownTopicId
        ]
    );
    h.commit(&decision.records);
    assert_eq!(h.image.topics().count(), 0);
}

#[test]
fn deleting_the_same_topic_twice_in_one_request_deletes_it_once() {
    let mut h = Harness::live_brokers(1, &[]);
    let a = h.create_topic("a", 1, 1);
    let req = DeleteTopicsRequest {
        names: vec!["a".into()],
        topic_ids: vec![a.topic_id],
    };
    let decision = h.state.delete_topics(&h.image, &req);
    assert_eq!(decision.records.len(), 1);
    assert_eq!(decision.response[1].error, ErrorCode::UnknownTopicId);
}
