//! Leader election and ISR removal for one partition.
//!
//! Kafka's rules without ELR (KIP-966): a new leader is the first replica, in
//! assignment order, that is in the ISR and live; with
//! `unclean.leader.election.enable` a live replica outside the ISR may lead
//! (the ISR then becomes just it); otherwise the partition goes offline
//! (leader -1) and its ISR keeps its last member so that member can lead
//! again when it returns.

use uuid::Uuid;

use crate::image::{MetadataImage, PartitionState};
use crate::pending::Pending;
use crate::records::{BrokerId, MetadataRecord, NO_LEADER, PartitionChangeRecord};

/// What to do to one partition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ElectionInput {
    /// A broker to take out of the ISR (fenced, shutting down, re-registered);
    /// the ISR keeps it if it is the last member.
    pub(crate) remove: Option<BrokerId>,
    /// `unclean.leader.election.enable`.
    pub(crate) unclean: bool,
}

/// The change a partition needs so that its leader is live and in the ISR,
/// or `None` when it needs none.
pub(crate) fn partition_change(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    state: &PartitionState,
    input: ElectionInput,
) -> Option<PartitionChangeRecord> {
    let mut isr = state.isr.clone();
    if let Some(gone) = input.remove
        && isr.len() > 1
    {
        isr.retain(|b| *b != gone);
    }
    let leader_stays = state.leader != NO_LEADER
        && isr.contains(&state.leader)
        && image.is_live(state.leader)
        && Some(state.leader) != input.remove;
    let leader = if leader_stays {
        state.leader
    } else {
        elect(image, &state.replicas, &mut isr, input.unclean)
    };
    if leader == state.leader && isr == state.isr {
        return None;
    }
    let leader_epoch = if leader == state.leader {
        state.leader_epoch
    } else {
        state.leader_epoch.saturating_add(1)
    };
    Some(PartitionChangeRecord {
        topic_id,
        partition,
        leader,
        isr,
        leader_epoch,
        partition_epoch: state.partition_epoch.saturating_add(1),
    })
}

fn elect(
    image: &MetadataImage,
    replicas: &[BrokerId],
    isr: &mut Vec<BrokerId>,
    unclean: bool,
) -> BrokerId {
    if let Some(leader) = replicas
        .iter()
        .copied()
        .find(|r| isr.contains(r) && image.is_live(*r))
    {
        return leader;
    }
    if unclean && let Some(leader) = replicas.iter().copied().find(|r| image.is_live(*r)) {
        tracing::warn!(leader, "unclean leader election: records may be lost");
        *isr = vec![leader];
        return leader;
    }
    NO_LEADER
}

/// Takes `broker` out of every ISR and moves its leaderships (after it was
/// fenced, began a controlled shutdown or re-registered).
pub(crate) fn remove_broker_everywhere(pending: &mut Pending<'_>, broker: BrokerId, unclean: bool) {
    let input = ElectionInput {
        remove: Some(broker),
        unclean,
    };
    let changes: Vec<_> = pending
        .image()
        .all_partitions()
        .filter(|(_, _, s)| s.isr.contains(&broker) || s.leader == broker)
        .filter_map(|(t, p, s)| partition_change(pending.image(), t, p, s, input))
        .collect();
    for change in changes {
        pending.push(MetadataRecord::PartitionChange(change));
    }
}

/// Elects leaders for offline partitions that can have one again (after a
/// broker was unfenced).
pub(crate) fn elect_offline_partitions(pending: &mut Pending<'_>, unclean: bool) {
    let input = ElectionInput {
        remove: None,
        unclean,
    };
    let changes: Vec<_> = pending
        .image()
        .all_partitions()
        .filter(|(_, _, s)| s.leader == NO_LEADER)
        .filter_map(|(t, p, s)| partition_change(pending.image(), t, p, s, input))
        .collect();
    for change in changes {
        pending.push(MetadataRecord::PartitionChange(change));
    }
}
