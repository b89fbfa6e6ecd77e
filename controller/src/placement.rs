//! Where a new partition's replicas go.
//!
//! The goal is Kafka's StripedReplicaPlacer's: spread replicas and leaders
//! evenly over the live brokers and, when racks are set, put each partition's
//! replicas on as many racks as possible. The method is ours: a greedy pick,
//! partition by partition, of the least-loaded brokers. For each partition
//! the leader is a broker with the fewest replicas of this topic (then the
//! fewest leaderships of this topic, then the least load in the cluster, then
//! the smallest id); each follower is a broker on a rack the partition does
//! not use yet (when racks are set), then with the fewest replicas of this
//! topic, then the least cluster load, then the smallest id. Without racks
//! this keeps every broker's replica count and leader count of the topic
//! within one of each other (a property test checks it).

use std::collections::{BTreeMap, BTreeSet};

use crate::records::BrokerId;

/// A broker that may receive replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementBroker {
    /// The broker's id.
    pub broker_id: BrokerId,
    /// The broker's rack, if set.
    pub rack: Option<String>,
    /// Replicas it holds in the whole cluster (a tie-breaker).
    pub cluster_replicas: usize,
}

/// Per-broker counts for the topic being placed.
#[derive(Debug, Clone, Copy, Default)]
struct TopicLoad {
    replicas: usize,
    leaders: usize,
}

/// Replica lists for `partitions` new partitions with `replication_factor`
/// replicas each, the leader first.
///
/// `existing` holds the topic's current replica lists (CreatePartitions), so
/// the new partitions even out the topic as a whole. Returns `None` when
/// there are fewer brokers than `replication_factor` or it is 0.
pub fn place_replicas(
    brokers: &[PlacementBroker],
    existing: &[Vec<BrokerId>],
    partitions: usize,
    replication_factor: usize,
) -> Option<Vec<Vec<BrokerId>>> {
    if replication_factor == 0 || replication_factor > brokers.len() {
        return None;
    }
    let mut load: BTreeMap<BrokerId, TopicLoad> = brokers
        .iter()
        .map(|b| (b.broker_id, TopicLoad::default()))
        .collect();
    for replicas in existing {
        for (i, b) in replicas.iter().enumerate() {
            if let Some(l) = load.get_mut(b) {
                l.replicas += 1;
                l.leaders += usize::from(i == 0);
            }
        }
    }
    let racks_set = brokers.iter().any(|b| b.rack.is_some());
    let mut placed = Vec::with_capacity(partitions);
    for _ in 0..partitions {
        let leader = brokers
            .iter()
            .min_by_key(|b| {
                let l = load[&b.broker_id];
                (l.replicas, l.leaders, b.cluster_replicas, b.broker_id)
            })
            .map(|b| b.broker_id)?;
        let mut chosen = vec![leader];
        while chosen.len() < replication_factor {
            let used_racks: BTreeSet<Option<&str>> = brokers
                .iter()
                .filter(|b| chosen.contains(&b.broker_id))
                .map(|b| b.rack.as_deref())
                .collect();
            let follower = brokers
                .iter()
                .filter(|b| !chosen.contains(&b.broker_id))
                .min_by_key(|b| {
                    let rack_used = racks_set && used_racks.contains(&b.rack.as_deref());
                    let l = load[&b.broker_id];
                    (rack_used, l.replicas, b.cluster_replicas, b.broker_id)
                })
                .map(|b| b.broker_id)?;
            chosen.push(follower);
        }
        for (i, b) in chosen.iter().enumerate() {
            if let Some(l) = load.get_mut(b) {
                l.replicas += 1;
                l.leaders += usize::from(i == 0);
            }
        }
        placed.push(chosen);
    }
    Some(placed)
}
