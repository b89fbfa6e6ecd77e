//! Broker lifecycle decisions: registration, heartbeats, fencing, shutdown.

use sluice_protocol::ErrorCode;
use uuid::Uuid;

use crate::config::ControllerConfig;
use crate::messages::{HeartbeatRequest, RegisterBrokerRequest};
use crate::records::{MetadataRecord, NO_LEADER};
use crate::testing::Harness;

#[test]
fn registered_broker_is_unfenced_once_caught_up() {
    let mut h = Harness::new();
    let epoch = h.register(1, None);
    let behind = HeartbeatRequest {
        broker_id: 1,
        broker_epoch: epoch,
        current_metadata_offset: -1,
        want_fence: false,
        want_shut_down: false,
    };
    let decision = h.state.heartbeat(&h.image, h.now_ms, &behind);
    assert!(decision.records.is_empty());
    assert!(!decision.response.is_caught_up);
    assert!(decision.response.is_fenced);
    let response = h.heartbeat(1, false);
    assert!(response.is_caught_up && !response.is_fenced);
    assert!(h.image.is_live(1));
}

#[test]
fn retried_registration_of_the_same_incarnation_writes_nothing() {
    let mut h = Harness::new();
    let request = RegisterBrokerRequest {
        broker_id: 1,
        incarnation_id: Uuid::from_u128(5),
        endpoints: Vec::new(),
        rack: None,
    };
    let first = h.state.register_broker(&h.image, h.now_ms, 0, &request);
    h.commit(&first.records);
    let retry = h.state.register_broker(&h.image, h.now_ms, 1, &request);
    assert!(retry.records.is_empty());
    assert_eq!(retry.response.broker_epoch, first.response.broker_epoch);
}

#[test]
fn new_incarnation_replaces_the_old_and_moves_its_leaderships() {
    let mut h = Harness::live_brokers(3, &[]);
    let topic = h.create_topic("t", 3, 3);
    let old_epoch = h.image.broker(1).unwrap().broker_epoch;
    let led_before = h.image.partitions_led_by(1);
    assert!(!led_before.is_empty());
    let new_epoch = h.register(1, None);
    assert!(new_epoch > old_epoch);
    assert!(h.image.broker(1).unwrap().fenced);
    assert!(h.image.partitions_led_by(1).is_empty());
    for (_, p) in &led_before {
        assert!(
            !h.image
                .partition(topic.topic_id, *p)
                .unwrap()
                .isr
                .contains(&1)
        );
    }
    let stale = HeartbeatRequest {
        broker_id: 1,
        broker_epoch: old_epoch,
        current_metadata_offset: h.log_end_offset,
        want_fence: false,
        want_shut_down: false,
    };
    let decision = h.state.heartbeat(&h.image, h.now_ms, &stale);
    assert_eq!(decision.response.error, ErrorCode::StaleBrokerEpoch);
}

#[test]
fn heartbeat_from_an_unknown_broker_is_refused() {
    let mut h = Harness::new();
    let response = h.heartbeat(9, false);
    assert_eq!(response.error, ErrorCode::BrokerIdNotRegistered);
}

#[test]
fn negative_broker_id_cannot_register() {
    let h = Harness::new();
    let mut state = h.state.clone();
    let request = RegisterBrokerRequest {
        broker_id: -3,
        incarnation_id: Uuid::nil(),
        endpoints: Vec::new(),
        rack: None,
    };
    let decision = state.register_broker(&h.image, 0, 0, &request);
    assert_eq!(decision.response.error, ErrorCode::InvalidRegistration);
    assert!(decision.records.is_empty());
}

#[test]
fn broker_silent_past_the_session_timeout_is_fenced_and_loses_leaderships() {
    let mut h = Harness::live_brokers(3, &[]);
    let topic = h.create_topic("t", 6, 3);
    let timeout = h.state.config().broker_session_timeout_ms;
    // Brokers 2 and 3 keep heartbeating; broker 1 stops.
    for _ in 0..(timeout / 500 + 2) {
        h.advance(500);
        h.heartbeat(2, false);
        h.heartbeat(3, false);
    }
    assert!(h.image.broker(1).unwrap().fenced);
    assert!(h.image.is_live(2) && h.image.is_live(3));
    for (_, state) in h.image.partitions(topic.topic_id) {
        assert_ne!(state.leader, 1);
        assert!(!state.isr.contains(&1));
        assert!(state.isr.contains(&state.leader));
    }
}

#[test]
fn session_timeout_is_measured_from_the_last_heartbeat() {
    let mut h = Harness::live_brokers(1, &[]);
    let timeout = h.state.config().broker_session_timeout_ms;
    h.advance(timeout);
    assert!(h.image.is_live(1));
    h.heartbeat(1, false);
    h.advance(timeout);
    assert!(h.image.is_live(1));
    h.advance(1);
    assert!(!h.image.is_live(1));
}

#[test]
fn default_session_lets_a_killed_broker_lose_leadership_within_three_seconds() {
    let config = ControllerConfig::default();
    assert!(config.broker_session_timeout_ms + 100 < 3_000);
    assert!(config.broker_heartbeat_interval_ms * 3 < config.broker_session_timeout_ms);
}

#[test]
fn last_isr_member_fenced_leaves_the_partition_offline_until_it_returns() {
    let mut h = Harness::live_brokers(2, &[]);
    let topic = h.create_topic("t", 1, 1);
    let leader = h.image.leader(topic.topic_id, 0).unwrap();
    let other = if leader == 1 { 2 } else { 1 };
    for _ in 0..6 {
        h.advance(500);
        h.heartbeat(other, false);
    }
    let state = h.image.partition(topic.topic_id, 0).unwrap();
    assert_eq!(state.leader, NO_LEADER);
    assert_eq!(state.isr, vec![leader]);
    // The broker comes back (same process, so its registration is kept).
    let response = h.heartbeat(leader, false);
    assert!(!response.is_fenced);
    assert_eq!(h.image.leader(topic.topic_id, 0), Some(leader));
}

#[test]
fn unclean_election_picks_a_live_replica_outside_the_isr() {
    let config = ControllerConfig {
        unclean_leader_election_enable: true,
        ..ControllerConfig::default()
    };
    let mut h = Harness::with_config(config);
    for id in [1, 2] {
        h.register(id, None);
        h.heartbeat(id, false);
    }
    let topic = h.create_topic("t", 1, 2);
    let state = h.image.partition(topic.topic_id, 0).unwrap().clone();
    let (leader, follower) = (state.replicas[0], state.replicas[1]);
    // The follower falls out of the ISR, then the leader dies.
    let shrink = crate::messages::AlterPartitionRequest {
        broker_id: leader,
        broker_epoch: h.image.broker(leader).unwrap().broker_epoch,
        partitions: vec![crate::messages::AlterPartitionItem {
            topic_id: topic.topic_id,
            partition: 0,
            leader_epoch: state.leader_epoch,
            new_isr: vec![leader],
            partition_epoch: state.partition_epoch,
        }],
    };
    let decision = h.state.alter_partition(&h.image, &shrink);
    h.commit(&decision.records);
    for _ in 0..6 {
        h.advance(500);
        h.heartbeat(follower, false);
    }
    let state = h.image.partition(topic.topic_id, 0).unwrap();
    assert_eq!(state.leader, follower);
    assert_eq!(state.isr, vec![follower]);
}

#[test]
fn controlled_shutdown_moves_leaderships_off_before_allowing_exit() {
    let mut h = Harness::live_brokers(3, &[]);
    let topic = h.create_topic("t", 6, 3);
    assert!(!h.image.partitions_led_by(2).is_empty());
    let response = h.heartbeat(2, true);
    assert!(response.should_shut_down);
    assert!(response.is_fenced);
    assert!(h.image.partitions_led_by(2).is_empty());
    for (_, state) in h.image.partitions(topic.topic_id) {
        assert!(!state.isr.contains(&2));
        assert!(state.leader == 1 || state.leader == 3);
    }
}

#[test]
fn controlled_shutdown_takes_partitions_without_another_isr_member_offline() {
    let mut h = Harness::live_brokers(2, &[]);
    let topic = h.create_topic("t", 2, 1);
    let response = h.heartbeat(1, true);
    // A partition whose only replica is broker 1 goes offline (-1) rather
    // than keep a leader that is about to exit; the broker may then go.
    assert!(response.should_shut_down);
    for (_, state) in h.image.partitions(topic.topic_id) {
        assert_ne!(state.leader, 1);
    }
}

#[test]
fn broker_asking_to_be_fenced_is_fenced() {
    let mut h = Harness::live_brokers(1, &[]);
    let request = HeartbeatRequest {
        broker_id: 1,
        broker_epoch: h.image.broker(1).unwrap().broker_epoch,
        current_metadata_offset: h.log_end_offset,
        want_fence: true,
        want_shut_down: false,
    };
    let decision = h.state.heartbeat(&h.image, h.now_ms, &request);
    assert!(matches!(
        decision.records[0],
        MetadataRecord::FenceBroker(_)
    ));
    assert!(decision.response.is_fenced);
}

#[test]
fn new_controller_gives_every_unfenced_broker_a_full_session() {
    let mut h = Harness::live_brokers(2, &[]);
    // A failover: a fresh controller state over the same image.
    h.state = crate::state::ControllerState::new(ControllerConfig::default());
    h.advance(10_000);
    assert!(h.image.is_live(1) && h.image.is_live(2));
    h.advance(2_001);
    assert!(!h.image.is_live(1) && !h.image.is_live(2));
}
