//! Kafka's `cooperative-sticky` assignor (KIP-429): balanced like round-robin,
//! but members keep what they already own whenever balance allows, and a
//! partition that must move is first withheld from its new owner so the old
//! owner can revoke it; the follow-up rebalance then hands it over. No
//! partition is ever owned by two members at once.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Assignor, GroupAssignment, MemberSubscription, RebalanceProtocol, empty_assignment,
    sorted_members, subscribed_partitions,
};
use crate::partition::TopicPartition;

/// Sticky, balanced and incremental: a rebalance moves only what balance needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> GroupAssignment {
        let mut assignment = empty_assignment(members);
        let sorted = sorted_members(members);
        if sorted.is_empty() {
            return assignment;
        }
        let all = subscribed_partitions(partitions_per_topic, members);
        let owners = valid_owners(&all, &sorted);
        let kept = keep_within_quota(&all, &sorted, &owners);
        let mut taken: BTreeSet<&TopicPartition> = BTreeSet::new();
        for (member, partitions) in &kept {
            taken.extend(partitions.iter());
            assignment.insert(
                (*member).to_owned(),
                partitions.iter().map(|&tp| tp.clone()).collect(),
            );
        }
        for partition in all.iter().filter(|tp| !taken.contains(tp)) {
            let least_loaded = sorted
                .iter()
                .filter(|m| m.topics.contains(&*partition.topic))
                .min_by_key(|m| assignment.get(&m.member_id).map_or(0, Vec::len));
            if let Some(member) = least_loaded {
                assignment
                    .entry(member.member_id.clone())
                    .or_default()
                    .push(partition.clone());
            }
        }
        withhold_transfers(&mut assignment, &owners);
        for partitions in assignment.values_mut() {
            partitions.sort();
        }
        assignment
    }
}

/// The owner of each existing partition that some member claims and
/// subscribes to; when two claim one, the higher generation wins (the other
/// claim is stale), ties going to the first member in sort order.
fn valid_owners<'a>(
    all: &'a [TopicPartition],
    sorted: &[&'a MemberSubscription],
) -> BTreeMap<&'a TopicPartition, (i32, &'a str)> {
    let exists: BTreeSet<&TopicPartition> = all.iter().collect();
    let mut owners: BTreeMap<&TopicPartition, (i32, &str)> = BTreeMap::new();
    for member in sorted {
        for owned in &member.owned_partitions {
            let Some(&partition) = exists.get(owned) else {
                continue;
            };
            if !member.topics.contains(&*owned.topic) {
                continue;
            }
            let claim = (member.generation, member.member_id.as_str());
            match owners.get(partition) {
                Some(&(generation, _)) if generation >= member.generation => {}
                _ => {
                    owners.insert(partition, claim);
                }
            }
        }
    }
    owners
}

/// What each member keeps of what it validly owns: at most the balanced
/// quota, where only `partitions % members` members may keep one extra
/// (those owning the most get the extra slots).
fn keep_within_quota<'a>(
    all: &'a [TopicPartition],
    sorted: &[&'a MemberSubscription],
    owners: &BTreeMap<&'a TopicPartition, (i32, &'a str)>,
) -> Vec<(&'a str, Vec<&'a TopicPartition>)> {
    let mut owned_by: Vec<(&str, Vec<&TopicPartition>)> = sorted
        .iter()
        .map(|member| {
            let mine: Vec<&TopicPartition> = owners
                .iter()
                .filter(|(_, (_, owner))| *owner == member.member_id)
                .map(|(&tp, _)| tp)
                .collect();
            (member.member_id.as_str(), mine)
        })
        .collect();
    let minimum = all.len() / sorted.len();
    let mut extra_slots = all.len() % sorted.len();
    // Stable sort: ties keep Kafka's member order.
    owned_by.sort_by_key(|(_, mine)| std::cmp::Reverse(mine.len()));
    for (_, mine) in &mut owned_by {
        let quota = if extra_slots > 0 && mine.len() > minimum {
            extra_slots -= 1;
            minimum + 1
        } else {
            minimum
        };
        mine.truncate(quota);
    }
    owned_by
}

/// Removes from each member the partitions another member still owns: the
/// owner revokes them first and the next rebalance assigns them (KIP-429).
fn withhold_transfers(
    assignment: &mut GroupAssignment,
    owners: &BTreeMap<&TopicPartition, (i32, &str)>,
) {
    for (member, partitions) in assignment.iter_mut() {
        partitions.retain(|tp| owners.get(tp).is_none_or(|(_, owner)| owner == member));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::testing::{members, topics};

    #[test]
    fn a_joining_member_gets_nothing_owned_until_the_owner_revoked_it() {
        let counts = topics(&[("t", 4)]);
        let mut group = members(&["a"], &["t"]);
        let first = CooperativeStickyAssignor.assign(&counts, &group);
        group[0].owned_partitions = first["a"].clone();
        group[0].generation = 1;
        group.extend(members(&["b"], &["t"]));
        let second = CooperativeStickyAssignor.assign(&counts, &group);
        assert_eq!(second["a"].len(), 2, "a keeps half and revokes the rest");
        assert!(second["b"].is_empty(), "b waits for a's revocation");
    }

    #[test]
    fn members_keep_their_partitions_when_nothing_changes() {
        let counts = topics(&[("t", 6)]);
        let mut group = members(&["a", "b"], &["t"]);
        let first = CooperativeStickyAssignor.assign(&counts, &group);
        for member in &mut group {
            member.owned_partitions = first[&member.member_id].clone();
            member.generation = 1;
        }
        assert_eq!(CooperativeStickyAssignor.assign(&counts, &group), first);
    }
}
