//! Property tests of the assignors: every subscribed partition is assigned to
//! exactly one member, and with identical subscriptions counts differ by at
//! most one; the cooperative assignor converges after its follow-up round.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use sluice_consumer::TopicPartition;
use sluice_consumer::assignor::{
    Assignor, CooperativeStickyAssignor, GroupAssignment, MemberSubscription, RangeAssignor,
    RoundRobinAssignor,
};

fn group(member_count: usize, topics: &BTreeMap<String, i32>) -> Vec<MemberSubscription> {
    (0..member_count)
        .map(|i| MemberSubscription {
            member_id: format!("member-{i:03}"),
            group_instance_id: None,
            topics: topics.keys().cloned().collect(),
            owned_partitions: Vec::new(),
            generation: -1,
        })
        .collect()
}

fn all_partitions(topics: &BTreeMap<String, i32>) -> BTreeSet<TopicPartition> {
    topics
        .iter()
        .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t.as_str(), p)))
        .collect()
}

fn assert_exactly_once(assignment: &GroupAssignment, topics: &BTreeMap<String, i32>) {
    let mut seen = BTreeSet::new();
    for partitions in assignment.values() {
        for tp in partitions {
            assert!(seen.insert(tp.clone()), "{tp} assigned twice");
        }
    }
    assert_eq!(seen, all_partitions(topics));
}

fn assert_no_partition_twice(assignment: &GroupAssignment) {
    let mut seen = BTreeSet::new();
    for partitions in assignment.values() {
        for tp in partitions {
            assert!(seen.insert(tp.clone()), "{tp} assigned twice");
        }
    }
}

fn assert_balanced(assignment: &GroupAssignment) {
    let counts: Vec<usize> = assignment.values().map(Vec::len).collect();
    let (min, max) = (counts.iter().min(), counts.iter().max());
    if let (Some(min), Some(max)) = (min, max) {
        assert!(max - min <= 1, "unbalanced: {counts:?}");
    }
}

fn topic_counts() -> impl Strategy<Value = BTreeMap<String, i32>> {
    prop::collection::btree_map("[a-e]{1,3}", 1..16i32, 1..5)
}

/// The group after every member took what `assignment` gave it, in `generation`.
fn owning(
    mut members: Vec<MemberSubscription>,
    assignment: &GroupAssignment,
    generation: i32,
) -> Vec<MemberSubscription> {
    for member in &mut members {
        member.owned_partitions = assignment
            .get(&member.member_id)
            .cloned()
            .unwrap_or_default();
        member.generation = generation;
    }
    members
}

proptest! {
    #[test]
    fn round_robin_assigns_each_partition_once_and_balances(topics in topic_counts(), n in 1usize..10) {
        let assignment = RoundRobinAssignor.assign(&topics, &group(n, &topics));
        assert_exactly_once(&assignment, &topics);
        assert_balanced(&assignment);
    }

    #[test]
    fn range_assigns_each_partition_once_and_balances_each_topic(count in 1..40i32, n in 1usize..10) {
        let topics: BTreeMap<String, i32> = [("t".to_owned(), count)].into();
        let assignment = RangeAssignor.assign(&topics, &group(n, &topics));
        assert_exactly_once(&assignment, &topics);
        assert_balanced(&assignment);
    }

    #[test]
    fn range_assigns_each_partition_of_many_topics_once(topics in topic_counts(), n in 1usize..10) {
        let assignment = RangeAssignor.assign(&topics, &group(n, &topics));
        assert_exactly_once(&assignment, &topics);
    }

    #[test]
    fn cooperative_sticky_assigns_each_partition_once_and_balances(topics in topic_counts(), n in 1usize..10) {
        let assignment = CooperativeStickyAssignor.assign(&topics, &group(n, &topics));
        assert_exactly_once(&assignment, &topics);
        assert_balanced(&assignment);
    }

    #[test]
    fn cooperative_sticky_converges_after_members_join_and_leave(
        topics in topic_counts(), before in 1usize..8, joined in 0usize..4, left in 0usize..4,
    ) {
        let mut members = group(before, &topics);
        let first = CooperativeStickyAssignor.assign(&topics, &members);
        members = owning(members, &first, 1);
        members.truncate(before.saturating_sub(left).max(1));
        for i in 0..joined {
            members.extend(group(1, &topics).into_iter().map(|mut m| { m.member_id = format!("new-{i}"); m }));
        }
        let second = CooperativeStickyAssignor.assign(&topics, &members);
        assert_no_partition_twice(&second);
        for member in &members {
            for tp in &second[&member.member_id] {
                let owned_elsewhere = members.iter().any(|o| o.member_id != member.member_id && o.owned_partitions.contains(tp));
                prop_assert!(!owned_elsewhere, "{tp} handed over before its owner revoked it");
            }
        }
        let third = CooperativeStickyAssignor.assign(&topics, &owning(members, &second, 2));
        assert_exactly_once(&third, &topics);
        assert_balanced(&third);
    }
}
