//! AlterPartition (KIP-497): a leader shrinks or expands its ISR.
//!
//! Checks follow Kafka's controller, in its order: an unknown topic or
//! partition, then the leader epoch (older: FENCED_LEADER_EPOCH; newer than
//! ours: NOT_CONTROLLER, this controller is behind), then the sender must be
//! the leader (INVALID_REQUEST), then the partition epoch
//! (INVALID_UPDATE_VERSION), then the ISR itself (INVALID_REQUEST when it is
//! empty, repeats a broker, leaves the replicas or drops the leader;
//! INELIGIBLE_REPLICA when it adds a fenced or shutting-down broker).

use std::collections::BTreeSet;

use sluice_protocol::ErrorCode;

use crate::image::{MetadataImage, PartitionState};
use crate::messages::{
    AlterPartitionItem, AlterPartitionRequest, AlterPartitionResponse, AlterPartitionResult,
    Decision,
};
use crate::pending::Pending;
use crate::records::{BrokerId, MetadataRecord, NO_LEADER, PartitionChangeRecord};
use crate::state::ControllerState;

impl ControllerState {
    /// AlterPartition: one result per partition; a partition whose change is
    /// accepted gets one [`PartitionChangeRecord`] with its partition epoch
    /// bumped and its leader epoch kept.
    pub fn alter_partition(
        &self,
        image: &MetadataImage,
        request: &AlterPartitionRequest,
    ) -> Decision<AlterPartitionResponse> {
        let top_level = match image.broker(request.broker_id) {
            None => Some(ErrorCode::BrokerIdNotRegistered),
            Some(b) if b.broker_epoch != request.broker_epoch => Some(ErrorCode::StaleBrokerEpoch),
            Some(_) => None,
        };
        if let Some(error) = top_level {
            return Decision {
                records: Vec::new(),
                response: AlterPartitionResponse {
                    error,
                    partitions: Vec::new(),
                },
            };
        }
        let mut pending = Pending::new(image);
        let partitions = request
            .partitions
            .iter()
            .map(|item| alter_one(&mut pending, request.broker_id, item))
            .collect();
        Decision {
            records: pending.into_records(),
            response: AlterPartitionResponse {
                error: ErrorCode::None,
                partitions,
            },
        }
    }
}

fn alter_one(
    pending: &mut Pending<'_>,
    sender: BrokerId,
    item: &AlterPartitionItem,
) -> AlterPartitionResult {
    let refuse = |error| AlterPartitionResult {
        topic_id: item.topic_id,
        partition: item.partition,
        error,
        leader: NO_LEADER,
        leader_epoch: -1,
        isr: Vec::new(),
        partition_epoch: -1,
    };
    let image = pending.image();
    let Some(topic) = image.topic_by_id(item.topic_id) else {
        return refuse(ErrorCode::UnknownTopicId);
    };
    let Some(state) = topic.partitions.get(&item.partition) else {
        return refuse(ErrorCode::UnknownTopicOrPartition);
    };
    if let Err(error) = check(image, sender, state, item) {
        return refuse(error);
    }
    if item.new_isr != state.isr {
        pending.push(MetadataRecord::PartitionChange(PartitionChangeRecord {
            topic_id: item.topic_id,
            partition: item.partition,
            leader: state.leader,
            isr: item.new_isr.clone(),
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch.saturating_add(1),
        }));
    }
    let Some(after) = pending.image().partition(item.topic_id, item.partition) else {
        return refuse(ErrorCode::UnknownTopicOrPartition);
    };
    AlterPartitionResult {
        topic_id: item.topic_id,
        partition: item.partition,
        error: ErrorCode::None,
        leader: after.leader,
        leader_epoch: after.leader_epoch,
        isr: after.isr.clone(),
        partition_epoch: after.partition_epoch,
    }
}

fn check(
    image: &MetadataImage,
    sender: BrokerId,
    state: &PartitionState,
    item: &AlterPartitionItem,
) -> Result<(), ErrorCode> {
    if item.leader_epoch < state.leader_epoch {
        return Err(ErrorCode::FencedLeaderEpoch);
    }
    if item.leader_epoch > state.leader_epoch {
        return Err(ErrorCode::NotController);
    }
    if state.leader != sender {
        return Err(ErrorCode::InvalidRequest);
    }
    if item.partition_epoch != state.partition_epoch {
        return Err(ErrorCode::InvalidUpdateVersion);
    }
    let new_isr: BTreeSet<BrokerId> = item.new_isr.iter().copied().collect();
    let fits = !item.new_isr.is_empty()
        && new_isr.len() == item.new_isr.len()
        && new_isr.contains(&state.leader)
        && new_isr.iter().all(|b| state.replicas.contains(b));
    if !fits {
        return Err(ErrorCode::InvalidRequest);
    }
    let ineligible = new_isr
        .iter()
        .any(|b| !state.isr.contains(b) && !image.is_live(*b));
    if ineligible {
        return Err(ErrorCode::IneligibleReplica);
    }
    Ok(())
}
