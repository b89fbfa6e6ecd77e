//! Kafka's `roundrobin` assignor: all partitions in order, dealt to members in
//! turn, skipping members not subscribed to the partition's topic.

use std::collections::BTreeMap;

use super::{
    Assignor, GroupAssignment, MemberSubscription, empty_assignment, sorted_members,
    subscribed_partitions,
};

/// Balances partition counts across members even when topics have few
/// partitions each (where `range` would favour the first members).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
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
        let mut turn = 0;
        for partition in subscribed_partitions(partitions_per_topic, members) {
            // Some member subscribes to this topic, so the search ends within one lap.
            for _ in 0..sorted.len() {
                let member = sorted[turn % sorted.len()];
                turn += 1;
                if member.topics.contains(&*partition.topic) {
                    assignment
                        .entry(member.member_id.clone())
                        .or_default()
                        .push(partition);
                    break;
                }
            }
        }
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::testing::{members, topics};

    #[test]
    fn partitions_are_dealt_in_turn() {
        let assignment =
            RoundRobinAssignor.assign(&topics(&[("t", 4)]), &members(&["a", "b"], &["t"]));
        let partitions = |m: &str| {
            assignment[m]
                .iter()
                .map(|tp| tp.partition)
                .collect::<Vec<_>>()
        };
        assert_eq!(partitions("a"), vec![0, 2]);
        assert_eq!(partitions("b"), vec![1, 3]);
    }
}
