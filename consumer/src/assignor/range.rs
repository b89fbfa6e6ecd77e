//! Kafka's `range` assignor: per topic, consecutive partition ranges to the
//! subscribed members in order, the first `partitions % members` getting one more.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Assignor, GroupAssignment, MemberSubscription, empty_assignment, sorted_members};
use crate::partition::TopicPartition;

/// Co-partitioned topics land together: partition `i` of every topic goes to
/// the same member when all members subscribe to the same topics.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> GroupAssignment {
        let mut assignment = empty_assignment(members);
        let sorted = sorted_members(members);
        for (topic, &count) in partitions_per_topic {
            let subscribers: Vec<&MemberSubscription> = sorted
                .iter()
                .copied()
                .filter(|member| member.topics.contains(topic))
                .collect();
            if subscribers.is_empty() {
                continue;
            }
            let topic: Arc<str> = topic.as_str().into();
            let per_member = count / subscribers.len() as i32;
            let extra = count % subscribers.len() as i32;
            let mut next = 0;
            for (index, member) in subscribers.iter().enumerate() {
                let length = per_member + i32::from((index as i32) < extra);
                let partitions = assignment.entry(member.member_id.clone()).or_default();
                partitions
                    .extend((next..next + length).map(|p| TopicPartition::new(topic.clone(), p)));
                next += length;
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
    fn first_members_get_the_extra_partitions_of_a_topic() {
        let assignment = RangeAssignor.assign(&topics(&[("t", 5)]), &members(&["a", "b"], &["t"]));
        let partitions = |m: &str| {
            assignment[m]
                .iter()
                .map(|tp| tp.partition)
                .collect::<Vec<_>>()
        };
        assert_eq!(partitions("a"), vec![0, 1, 2]);
        assert_eq!(partitions("b"), vec![3, 4]);
    }

    #[test]
    fn same_partition_of_each_topic_goes_to_the_same_member() {
        let assignment = RangeAssignor.assign(
            &topics(&[("x", 2), ("y", 2)]),
            &members(&["a", "b"], &["x", "y"]),
        );
        for partitions in assignment.values() {
            assert_eq!(partitions.len(), 2);
            assert_eq!(partitions[0].partition, partitions[1].partition);
        }
    }
}
