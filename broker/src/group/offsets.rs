//! Committed offsets of every group, and their expiry.

use std::collections::BTreeMap;

use super::messages::TopicPartition;
use super::records::OffsetValue;

/// Committed offsets, by group then partition. Only durable commits are
/// here: the coordinator inserts a commit after its record was appended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetStore {
    by_group: BTreeMap<String, BTreeMap<TopicPartition, OffsetValue>>,
}

impl OffsetStore {
    /// Record a durable commit.
    pub(crate) fn commit(&mut self, group_id: &str, partition: TopicPartition, value: OffsetValue) {
        self.by_group
            .entry(group_id.to_owned())
            .or_default()
            .insert(partition, value);
    }

    /// The committed offset of one partition.
    pub fn get(&self, group_id: &str, partition: &TopicPartition) -> Option<&OffsetValue> {
        self.by_group.get(group_id)?.get(partition)
    }

    /// Every committed offset of a group, sorted by partition.
    pub fn group_offsets(
        &self,
        group_id: &str,
    ) -> impl Iterator<Item = (&TopicPartition, &OffsetValue)> {
        self.by_group.get(group_id).into_iter().flatten()
    }

    /// Whether the group has any committed offset.
    pub fn has_offsets(&self, group_id: &str) -> bool {
        self.by_group
            .get(group_id)
            .is_some_and(|offsets| !offsets.is_empty())
    }

    /// Groups that have offsets.
    pub(crate) fn group_ids(&self) -> impl Iterator<Item = &String> {
        self.by_group.keys()
    }

    /// Forget one partition's offset; whether there was one.
    pub(crate) fn delete(&mut self, group_id: &str, partition: &TopicPartition) -> bool {
        let Some(offsets) = self.by_group.get_mut(group_id) else {
            return false;
        };
        let removed = offsets.remove(partition).is_some();
        if offsets.is_empty() {
            self.by_group.remove(group_id);
        }
        removed
    }

    /// Forget all of a group's offsets, returning their partitions.
    pub(crate) fn remove_group(&mut self, group_id: &str) -> Vec<TopicPartition> {
        self.by_group
            .remove(group_id)
            .map(|o| o.into_keys().collect())
            .unwrap_or_default()
    }

    /// Partitions of `group_id` whose offsets expired at `now_ms`.
    /// `base_ms(offset)` says when the retention clock of an offset started;
    /// `eligible(partition)` restricts which partitions may expire at all. An
    /// explicit expiry (v1 commits) overrides the clock, as in Kafka.
    pub(crate) fn expired(
        &self,
        group_id: &str,
        now_ms: i64,
        retention_ms: i64,
        base_ms: impl Fn(&OffsetValue) -> i64,
        eligible: impl Fn(&TopicPartition) -> bool,
    ) -> Vec<TopicPartition> {
        self.group_offsets(group_id)
            .filter(|(partition, _)| eligible(partition))
            .filter(|(_, value)| match value.expire_timestamp_ms {
                Some(expire_ms) => now_ms >= expire_ms,
                None => now_ms >= base_ms(value).saturating_add(retention_ms),
            })
            .map(|(partition, _)| partition.clone())
            .collect()
    }
}
