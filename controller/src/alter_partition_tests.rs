//! AlterPartition and producer-id block decisions.

use sluice_protocol::ErrorCode;
use uuid::Uuid;

use crate::image::PartitionState;
use crate::messages::{AllocateProducerIdsRequest, AlterPartitionItem, AlterPartitionRequest};
use crate::testing::Harness;

struct Fixture {
    h: Harness,
    topic_id: Uuid,
    state: PartitionState,
}

fn fixture() -> Fixture {
    let mut h = Harness::live_brokers(3, &[]);
    let topic_id = h.create_topic("t", 1, 3).topic_id;
    let state = h.image.partition(topic_id, 0).unwrap().clone();
    Fixture { h, topic_id, state }
}

impl Fixture {
    fn alter(&mut self, sender: i32, edit: impl FnOnce(&mut AlterPartitionItem)) -> ErrorCode {
        let mut item = AlterPartitionItem {
            topic_id: self.topic_id,
            partition: 0,
            leader_epoch: self.state.leader_epoch,
            new_isr: vec![self.state.leader],
            partition_epoch: self.state.partition_epoch,
        };
        edit(&mut item);
        let request = AlterPartitionRequest {
            broker_id: sender,
            broker_epoch: self.h.image.broker(sender).unwrap().broker_epoch,
            partitions: vec![item],
        };
        let decision = self.h.state.alter_partition(&self.h.image, &request);
        self.h.commit(&decision.records);
        assert_eq!(decision.response.error, ErrorCode::None);
        decision.response.partitions[0].error
    }
}

#[test]
fn leader_shrinks_the_isr_and_the_partition_epoch_moves() {
    let mut f = fixture();
    let leader = f.state.leader;
    assert_eq!(f.alter(leader, |_| {}), ErrorCode::None);
    let after = f.h.image.partition(f.topic_id, 0).unwrap();
    assert_eq!(after.isr, vec![leader]);
    assert_eq!(after.partition_epoch, f.state.partition_epoch + 1);
    assert_eq!(after.leader_epoch, f.state.leader_epoch);
}

#[test]
fn leader_expands_the_isr_with_a_live_replica() {
    let mut f = fixture();
    let leader = f.state.leader;
    f.alter(leader, |_| {});
    f.state = f.h.image.partition(f.topic_id, 0).unwrap().clone();
    let all = f.state.replicas.clone();
    assert_eq!(
        f.alter(leader, |i| i.new_isr = all.clone()),
        ErrorCode::None
    );
    assert_eq!(f.h.image.partition(f.topic_id, 0).unwrap().isr, all);
}

#[test]
fn stale_partition_epoch_is_invalid_update_version() {
    let mut f = fixture();
    let leader = f.state.leader;
    let code = f.alter(leader, |i| i.partition_epoch -= 1);
    assert_eq!(code, ErrorCode::InvalidUpdateVersion);
}

#[test]
fn old_leader_epoch_is_fenced_and_newer_means_controller_behind() {
    let mut f = fixture();
    let leader = f.state.leader;
    assert_eq!(
        f.alter(leader, |i| i.leader_epoch -= 1),
        ErrorCode::FencedLeaderEpoch
    );
    assert_eq!(
        f.alter(leader, |i| i.leader_epoch += 1),
        ErrorCode::NotController
    );
}

#[test]
fn follower_cannot_alter_the_isr() {
    let mut f = fixture();
    let follower = f.state.replicas[1];
    assert_eq!(f.alter(follower, |_| {}), ErrorCode::InvalidRequest);
}

#[test]
fn isr_without_the_leader_or_outside_the_replicas_is_invalid() {
    let mut f = fixture();
    let leader = f.state.leader;
    let follower = f.state.replicas[1];
    assert_eq!(
        f.alter(leader, |i| i.new_isr = vec![follower]),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        f.alter(leader, |i| i.new_isr = vec![leader, 42]),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        f.alter(leader, |i| i.new_isr = vec![leader, leader]),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        f.alter(leader, |i| i.new_isr = Vec::new()),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn adding_a_fenced_replica_is_ineligible() {
    let mut f = fixture();
    let leader = f.state.leader;
    let follower = f.state.replicas[1];
    f.alter(leader, |i| i.new_isr = vec![leader]);
    f.state = f.h.image.partition(f.topic_id, 0).unwrap().clone();
    // The follower shuts down, so it is no longer eligible.
    f.h.heartbeat(follower, true);
    let code = f.alter(leader, |i| i.new_isr = vec![leader, follower]);
    assert_eq!(code, ErrorCode::IneligibleReplica);
}

#[test]
fn unknown_topic_or_partition_is_refused() {
    let mut f = fixture();
    let leader = f.state.leader;
    assert_eq!(
        f.alter(leader, |i| i.topic_id = Uuid::from_u128(4)),
        ErrorCode::UnknownTopicId
    );
    assert_eq!(
        f.alter(leader, |i| i.partition = 7),
        ErrorCode::UnknownTopicOrPartition
    );
}

#[test]
fn stale_broker_epoch_refuses_the_whole_request() {
    let f = fixture();
    let request = AlterPartitionRequest {
        broker_id: f.state.leader,
        broker_epoch: 0,
        partitions: Vec::new(),
    };
    let decision = f.h.state.alter_partition(&f.h.image, &request);
    assert_eq!(decision.response.error, ErrorCode::StaleBrokerEpoch);
}

#[test]
fn unchanged_isr_writes_nothing_and_answers_the_current_state() {
    let f = fixture();
    let request = AlterPartitionRequest {
        broker_id: f.state.leader,
        broker_epoch: f.h.image.broker(f.state.leader).unwrap().broker_epoch,
        partitions: vec![AlterPartitionItem {
            topic_id: f.topic_id,
            partition: 0,
            leader_epoch: f.state.leader_epoch,
            new_isr: f.state.isr.clone(),
            partition_epoch: f.state.partition_epoch,
        }],
    };
    let decision = f.h.state.alter_partition(&f.h.image, &request);
    assert!(decision.records.is_empty());
    assert_eq!(decision.response.partitions[0].isr, f.state.isr);
}

#[test]
fn producer_id_blocks_are_consecutive_and_never_overlap() {
    let mut h = Harness::live_brokers(2, &[]);
    let mut blocks = Vec::new();
    for broker_id in [1, 2, 1] {
        let request = AllocateProducerIdsRequest {
            broker_id,
            broker_epoch: h.image.broker(broker_id).unwrap().broker_epoch,
        };
        let decision = h.state.allocate_producer_ids(&h.image, &request);
        assert_eq!(decision.response.error, ErrorCode::None);
        h.commit(&decision.records);
        blocks.push((
            decision.response.first_producer_id,
            decision.response.block_size,
        ));
    }
    assert_eq!(blocks, [(0, 1000), (1000, 1000), (2000, 1000)]);
}

#[test]
fn producer_ids_for_a_stale_registration_are_refused() {
    let h = Harness::live_brokers(1, &[]);
    let request = AllocateProducerIdsRequest {
        broker_id: 1,
        broker_epoch: 99,
    };
    let decision = h.state.allocate_producer_ids(&h.image, &request);
    assert_eq!(decision.response.error, ErrorCode::StaleBrokerEpoch);
    assert!(decision.records.is_empty());
}
