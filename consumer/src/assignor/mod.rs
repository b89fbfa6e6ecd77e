//! Partition assignors: the group leader's pure function from members'
//! subscriptions and the topics' partition counts to each member's partitions.
//!
//! Names and algorithms follow Kafka's (`range`, `roundrobin`,
//! `cooperative-sticky`), so a Sluice leader assigns as a Java leader would and
//! members of either kind can share a group.

mod cooperative_sticky;
mod range;
mod round_robin;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

pub use cooperative_sticky::CooperativeStickyAssignor;
pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;

use crate::error::{ConsumerError, Result};
use crate::partition::TopicPartition;

/// How members give up partitions during a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before rejoining.
    Eager,
    /// Members keep what they own and revoke only what moves (KIP-429).
    Cooperative,
}

/// One member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The coordinator-given member id.
    pub member_id: String,
    /// The static member id, when configured; assignors order by it first so
    /// a restarted static member gets the same partitions.
    pub group_instance_id: Option<String>,
    /// The topics the member subscribes to.
    pub topics: BTreeSet<String>,
    /// The partitions the member owned before this rebalance.
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it owned them (`-1` when unknown).
    pub generation: i32,
}

impl MemberSubscription {
    /// The key Kafka orders members by: instance id when present, else member id.
    fn sort_key(&self) -> (&str, &str) {
        (
            self.group_instance_id.as_deref().unwrap_or(&self.member_id),
            &self.member_id,
        )
    }
}

/// Each member's assigned partitions, by member id.
pub type GroupAssignment = BTreeMap<String, Vec<TopicPartition>>;

/// A partition assignment strategy.
pub trait Assignor: Send + Sync + Debug {
    /// The protocol name sent in JoinGroup (Kafka's).
    fn name(&self) -> &'static str;

    /// Whether members rebalance eagerly or cooperatively under this assignor.
    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    /// Assigns the partitions of `partitions_per_topic` to `members`. Every
    /// member appears in the result, possibly with no partitions; topics
    /// missing from `partitions_per_topic` are ignored.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> GroupAssignment;
}

/// The assignor with Kafka name `name`.
///
/// # Errors
/// [`ConsumerError::Config`] for a name we do not implement.
pub fn by_name(name: &str) -> Result<Box<dyn Assignor>> {
    match name {
        "range" => Ok(Box::new(RangeAssignor)),
        "roundrobin" => Ok(Box::new(RoundRobinAssignor)),
        "cooperative-sticky" => Ok(Box::new(CooperativeStickyAssignor)),
        other => Err(ConsumerError::Config(format!(
            "unknown partition assignment strategy {other:?} (known: range, roundrobin, cooperative-sticky)"
        ))),
    }
}

/// Members sorted as Kafka sorts them, for deterministic assignments.
fn sorted_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    sorted
}

/// An empty assignment naming every member.
fn empty_assignment(members: &[MemberSubscription]) -> GroupAssignment {
    members
        .iter()
        .map(|member| (member.member_id.clone(), Vec::new()))
        .collect()
}

/// Every partition of every topic some member subscribes to, sorted.
fn subscribed_partitions(
    partitions_per_topic: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
) -> Vec<TopicPartition> {
    let topics: BTreeSet<&String> = members.iter().flat_map(|m| m.topics.iter()).collect();
    topics
        .into_iter()
        .filter_map(|topic| partitions_per_topic.get_key_value(topic))
        .flat_map(|(topic, &count)| {
            let topic: std::sync::Arc<str> = topic.as_str().into();
            (0..count).map(move |partition| TopicPartition::new(topic.clone(), partition))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testing;
