//! Positions from the log rather than the group: seeking to a partition's
//! first or next-to-be-written offset, and asking the leaders (ListOffsets)
//! for log bounds and for the first offset at or after a timestamp — Kafka's
//! `seekToBeginning`/`seekToEnd`, `beginningOffsets`/`endOffsets` and
//! `offsetsForTimes`. The same lookup resolves `auto.offset.reset`.

use std::collections::BTreeMap;

use sluice_client::{Admin, ClientError, ListedOffset, OffsetSpec};

use super::Consumer;
use crate::config::AutoOffsetReset;
use crate::error::{ConsumerError, Result};
use crate::partition::TopicPartition;
use crate::positions::Position;

impl Consumer {
    /// Makes the next `poll` read `partitions` from their log start offset;
    /// an empty slice means every assigned partition (as Kafka's
    /// `seekToBeginning`).
    ///
    /// The seek is lazy, like Kafka's: the offset is looked up (ListOffsets)
    /// by the next `poll`, so it is the log start at that moment, and
    /// [`Consumer::position`] is `None` until then. Data already fetched for
    /// these partitions is dropped.
    ///
    /// # Errors
    /// [`ConsumerError::NotAssigned`] when any partition is not assigned;
    /// then no position changes.
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to_log_bound(partitions, Position::AwaitingEarliest)
    }

    /// Makes the next `poll` read `partitions` from their log end offset (only
    /// records written after the lookup); an empty slice means every assigned
    /// partition. Lazy like [`Consumer::seek_to_beginning`].
    ///
    /// # Errors
    /// [`ConsumerError::NotAssigned`] when any partition is not assigned;
    /// then no position changes.
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to_log_bound(partitions, Position::AwaitingLatest)
    }

    fn seek_to_log_bound(&mut self, partitions: &[TopicPartition], bound: Position) -> Result<()> {
        let targets = if partitions.is_empty() {
            self.positions.assigned()
        } else {
            partitions.to_vec()
        };
        if let Some(missing) = targets.iter().find(|tp| !self.positions.is_assigned(tp)) {
            return Err(ConsumerError::NotAssigned(missing.clone()));
        }
        targets
            .iter()
            .try_for_each(|tp| self.positions.set(tp, bound))
    }

    /// The log start offset of each partition (assigned or not), looked up now.
    ///
    /// # Errors
    /// A partition the leaders could not answer for (unknown topic, no
    /// leader within `default_api_timeout_ms`); connection errors.
    pub async fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.log_offsets(partitions, OffsetSpec::Earliest).await
    }

    /// The log end offset (the offset the next record written will get) of
    /// each partition, assigned or not, looked up now.
    ///
    /// # Errors
    /// As [`Consumer::beginning_offsets`].
    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.log_offsets(partitions, OffsetSpec::Latest).await
    }

    /// For each `(partition, timestamp_ms)`, the `(offset, timestamp_ms)` of
    /// the first record whose timestamp is at or after `timestamp_ms`, or `None`
    /// when no record is that new (Kafka's `offsetsForTimes`). Answers come
    /// in the order asked. Seek to the offset to read from that time.
    ///
    /// # Errors
    /// [`ConsumerError::NegativeTimestamp`] for a timestamp below zero (those
    /// values mean "earliest"/"latest" on the wire); otherwise as
    /// [`Consumer::beginning_offsets`].
    pub async fn offsets_for_times(
        &self,
        timestamps: &[(TopicPartition, i64)],
    ) -> Result<Vec<(TopicPartition, Option<(i64, i64)>)>> {
        if let Some((partition, timestamp_ms)) = timestamps.iter().find(|(_, ts)| *ts < 0) {
            return Err(ConsumerError::NegativeTimestamp {
                partition: partition.clone(),
                timestamp_ms: *timestamp_ms,
            });
        }
        // ListOffsets takes one spec per call: one lookup per distinct time.
        let mut by_time: BTreeMap<i64, Vec<TopicPartition>> = BTreeMap::new();
        for (tp, timestamp_ms) in timestamps {
            by_time.entry(*timestamp_ms).or_default().push(tp.clone());
        }
        let mut found = BTreeMap::new();
        for (timestamp_ms, partitions) in by_time {
            for listed in self
                .list_offsets(&partitions, OffsetSpec::Timestamp(timestamp_ms))
                .await?
            {
                let answer = (listed.offset >= 0).then_some((listed.offset, listed.timestamp_ms));
                let tp = TopicPartition::new(listed.topic, listed.partition);
                found.insert((tp, timestamp_ms), answer);
            }
        }
        Ok(timestamps
            .iter()
            .map(|(tp, timestamp_ms)| {
                let answer = found.get(&(tp.clone(), *timestamp_ms)).copied().flatten();
                (tp.clone(), answer)
            })
            .collect())
    }

    async fn log_offsets(
        &self,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        Ok(self
            .list_offsets(partitions, spec)
            .await?
            .into_iter()
            .map(|listed| {
                let tp = TopicPartition::new(listed.topic, listed.partition);
                (tp, listed.offset)
            })
            .collect())
    }

    /// ListOffsets for `partitions`, failing on the first partition the
    /// leaders could not answer for.
    async fn list_offsets(
        &self,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<Vec<ListedOffset>> {
        let listed = Admin::new(self.client.clone())
            .list_offsets(&keys_of(partitions), spec)
            .await?;
        let failed = listed
            .iter()
            .find_map(|l| l.error.as_ref().map(|error| (l, error.code)));
        if let Some((failed, code)) = failed {
            let context = format!("{}-{}", failed.topic, failed.partition);
            return Err(ClientError::broker(code, Some(context)).into());
        }
        Ok(listed)
    }

    /// Turns partitions awaiting `auto.offset.reset` into pending seeks to
    /// the log bound the setting names.
    ///
    /// # Errors
    /// [`ConsumerError::NoOffset`] when the setting is `none`.
    pub(super) fn apply_auto_offset_reset(&mut self) -> Result<()> {
        let to_reset = self.positions.awaiting(Position::AwaitingReset);
        if to_reset.is_empty() {
            return Ok(());
        }
        let bound = match self.config.auto_offset_reset {
            AutoOffsetReset::Earliest => Position::AwaitingEarliest,
            AutoOffsetReset::Latest => Position::AwaitingLatest,
            AutoOffsetReset::None => return Err(ConsumerError::NoOffset(to_reset[0].clone())),
        };
        for tp in &to_reset {
            self.positions.update_if_assigned(tp, bound);
        }
        Ok(())
    }

    /// Looks up the offsets of pending seeks to the log start or end.
    /// Partitions the leaders did not answer for stay pending and are tried
    /// again on the next `poll`.
    pub(super) async fn resolve_log_bound_seeks(&mut self) -> Result<()> {
        for (pending, spec) in [
            (Position::AwaitingEarliest, OffsetSpec::Earliest),
            (Position::AwaitingLatest, OffsetSpec::Latest),
        ] {
            let partitions = self.positions.awaiting(pending);
            if partitions.is_empty() {
                continue;
            }
            let listed = Admin::new(self.client.clone())
                .list_offsets(&keys_of(&partitions), spec)
                .await?;
            for offset in listed.into_iter().filter(|o| o.error.is_none()) {
                let tp = TopicPartition::new(offset.topic, offset.partition);
                self.positions
                    .update_if_assigned(&tp, Position::At(offset.offset));
            }
        }
        Ok(())
    }
}

/// Partitions as the admin API names them.
fn keys_of(partitions: &[TopicPartition]) -> Vec<(String, i32)> {
    partitions
        .iter()
        .map(|tp| (tp.topic.to_string(), tp.partition))
        .collect()
}
