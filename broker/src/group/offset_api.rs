//! OffsetCommit, OffsetFetch, OffsetDelete and offset expiry.

use sluice_protocol::ErrorCode;

use super::coordinator::{GroupCoordinator, PersistWaiter};
use super::messages::{
    CommitPartition, FetchedOffset, OffsetCommitInput, OffsetCommitOutput, OffsetDeleteInput,
    OffsetDeleteOutput, OffsetFetchInput, OffsetFetchOutput, PartitionResult, TopicPartition,
};
use super::outcome::{Outcome, Reply, RequestToken, Response};
use super::records::{
    OffsetValue, OffsetsRecord, encode_offset_value, fits_string, group_key, offset_key,
};
use super::state::{Group, GroupState};

impl GroupCoordinator {
    /// Handle OffsetCommit. The response comes once the commit is durable
    /// (after [`persisted`](Self::persisted)), or now if it was refused.
    pub fn offset_commit(
        &mut self,
        token: RequestToken,
        input: OffsetCommitInput,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        if let Err(error) = self.validate_commit(&input, now_ms) {
            let partitions = input
                .partitions
                .iter()
                .map(|p| result(&p.partition, error))
                .collect();
            out.respond(
                token,
                Reply::OffsetCommit(OffsetCommitOutput { partitions }),
            );
            return out;
        }
        let mut results = Vec::with_capacity(input.partitions.len());
        let mut records = Vec::new();
        let mut offsets = Vec::new();
        for commit in input.partitions {
            let error = self.check_commit_partition(&commit);
            results.push(result(&commit.partition, error));
            if error == ErrorCode::None {
                let value = OffsetValue {
                    offset: commit.offset,
                    leader_epoch: commit.leader_epoch,
                    metadata: commit.metadata.unwrap_or_default(),
                    commit_timestamp_ms: now_ms,
                    expire_timestamp_ms: None,
                };
                records.push(OffsetsRecord {
                    key: offset_key(&input.group_id, &commit.partition),
                    value: Some(encode_offset_value(&value)),
                });
                offsets.push((commit.partition, value));
            }
        }
        let response = Response {
            token,
            reply: Reply::OffsetCommit(OffsetCommitOutput {
                partitions: results,
            }),
        };
        if records.is_empty() {
            out.responses.push(response);
        } else {
            let waiter = PersistWaiter::Offsets {
                group_id: input.group_id.clone(),
                offsets,
                response,
            };
            self.persist(&input.group_id, records, waiter, &mut out);
        }
        out
    }

    fn check_commit_partition(&self, commit: &CommitPartition) -> ErrorCode {
        let metadata = commit.metadata.as_deref().unwrap_or_default();
        if metadata.len() > self.config.offset_metadata_max_bytes || !fits_string(metadata) {
            ErrorCode::OffsetMetadataTooLarge
        } else if !fits_string(&commit.partition.topic) {
            ErrorCode::InvalidTopicException
        } else {
            ErrorCode::None
        }
    }

    /// Kafka's group checks for a commit; creates an Empty group for
    /// commits outside group management (generation < 0).
    fn validate_commit(&mut self, input: &OffsetCommitInput, now_ms: i64) -> Result<(), ErrorCode> {
        if input.group_id.is_empty() || !fits_string(&input.group_id) {
            return Err(ErrorCode::InvalidGroupId);
        }
        let Some(group) = self.groups.get_mut(&input.group_id) else {
            if input.generation_id >= 0 {
                return Err(ErrorCode::IllegalGeneration);
            }
            self.groups
                .insert(input.group_id.clone(), Group::new(&input.group_id, now_ms));
            return Ok(());
        };
        validate_member_commit(group, input, now_ms)
    }

    /// Handle OffsetFetch for one group; answered immediately.
    pub fn offset_fetch(&self, token: RequestToken, input: OffsetFetchInput) -> Outcome {
        let mut out = Outcome::default();
        let partitions = match input.partitions {
            Some(partitions) => partitions
                .iter()
                .map(|p| self.fetched(&input.group_id, p))
                .collect(),
            None => self
                .offsets
                .group_offsets(&input.group_id)
                .map(|(partition, _)| self.fetched(&input.group_id, partition))
                .collect(),
        };
        out.respond(
            token,
            Reply::OffsetFetch(OffsetFetchOutput {
                error: ErrorCode::None,
                partitions,
            }),
        );
        out
    }

    fn fetched(&self, group_id: &str, partition: &TopicPartition) -> FetchedOffset {
        let committed = self.offsets.get(group_id, partition);
        FetchedOffset {
            partition: partition.clone(),
            offset: committed.map_or(-1, |c| c.offset),
            leader_epoch: committed.map_or(-1, |c| c.leader_epoch),
            metadata: committed.map(|c| c.metadata.clone()).unwrap_or_default(),
            error: ErrorCode::None,
        }
    }

    /// Handle OffsetDelete: a consumer group cannot drop offsets of topics
    /// it still subscribes to; other non-empty groups cannot drop any.
    pub fn offset_delete(&mut self, token: RequestToken, input: OffsetDeleteInput) -> Outcome {
        let mut out = Outcome::default();
        let refuse = |out: &mut Outcome, error: ErrorCode| {
            out.respond(
                token,
                Reply::OffsetDelete(OffsetDeleteOutput {
                    error,
                    partitions: Vec::new(),
                }),
            );
        };
        let Some(group) = self.groups.get(&input.group_id) else {
            refuse(&mut out, ErrorCode::GroupIdNotFound);
            return out;
        };
        let subscribed = match group.state {
            GroupState::Dead => {
                return {
                    refuse(&mut out, ErrorCode::GroupIdNotFound);
                    out
                };
            }
            GroupState::Empty => None,
            _ if group.protocol_type.as_deref() != Some(super::state::CONSUMER_PROTOCOL_TYPE) => {
                refuse(&mut out, ErrorCode::NonEmptyGroup);
                return out;
            }
            // Undecodable subscriptions count as subscribed to everything.
            _ => Some(group.subscribed_topics()),
        };
        let mut partitions = Vec::with_capacity(input.partitions.len());
        let mut records = Vec::new();
        for partition in &input.partitions {
            let is_subscribed = subscribed
                .as_ref()
                .is_some_and(|topics| topics.as_ref().is_none_or(|t| t.contains(&partition.topic)));
            if is_subscribed {
                partitions.push(result(partition, ErrorCode::GroupSubscribedToTopic));
                continue;
            }
            if self.offsets.delete(&input.group_id, partition) {
                records.push(OffsetsRecord {
                    key: offset_key(&input.group_id, partition),
                    value: None,
                });
            }
            partitions.push(result(partition, ErrorCode::None));
        }
        let reply = Reply::OffsetDelete(OffsetDeleteOutput {
            error: ErrorCode::None,
            partitions,
        });
        let response = Response { token, reply };
        if records.is_empty() {
            out.responses.push(response);
        } else {
            self.persist(
                &input.group_id,
                records,
                PersistWaiter::Replies(vec![response]),
                &mut out,
            );
        }
        out
    }

    /// Expire offsets by `offsets.retention.ms` (Kafka 2.1+ rules) and drop
    /// Empty groups left without offsets.
    pub(crate) fn expire_offsets(&mut self, now_ms: i64, out: &mut Outcome) {
        let mut group_ids: Vec<String> = self.groups.keys().cloned().collect();
        group_ids.extend(
            self.offsets
                .group_ids()
                .filter(|g| !self.groups.contains_key(*g))
                .cloned(),
        );
        for group_id in group_ids {
            let expired = self.expired_offsets_of(&group_id, now_ms);
            let records = self.delete_offsets(&group_id, &expired);
            if !records.is_empty() {
                tracing::info!(group = %group_id, expired = expired.len(), "expired offsets");
                self.persist(&group_id, records, PersistWaiter::Replies(Vec::new()), out);
            }
        }
    }

    /// Forget every group's committed offsets on `topics`, which were just
    /// deleted, as Kafka does when a topic goes: tombstones are appended
    /// so the offsets stay gone after a restart, and an Empty group left
    /// without offsets is removed too. Nothing waits on the appends.
    pub fn delete_offsets_of_topics(&mut self, topics: &[String]) -> Outcome {
        let mut out = Outcome::default();
        let group_ids: Vec<String> = self.offsets.group_ids().cloned().collect();
        for group_id in group_ids {
            let deleted: Vec<TopicPartition> = self
                .offsets
                .group_offsets(&group_id)
                .map(|(partition, _)| partition)
                .filter(|partition| topics.contains(&partition.topic))
                .cloned()
                .collect();
            if deleted.is_empty() {
                continue;
            }
            let records = self.delete_offsets(&group_id, &deleted);
            tracing::info!(group = %group_id, removed = deleted.len(), "removed offsets of deleted topics");
            self.persist(
                &group_id,
                records,
                PersistWaiter::Replies(Vec::new()),
                &mut out,
            );
        }
        out
    }

    /// Deletes `group_id`'s offsets of `partitions`, then the group itself
    /// when it is Empty and has no offsets left: the tombstones to append.
    fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[TopicPartition],
    ) -> Vec<OffsetsRecord> {
        let mut records: Vec<OffsetsRecord> = partitions
            .iter()
            .filter(|partition| self.offsets.delete(group_id, partition))
            .map(|partition| OffsetsRecord {
                key: offset_key(group_id, partition),
                value: None,
            })
            .collect();
        records.extend(self.drop_if_empty_without_offsets(group_id));
        records
    }

    /// Removes `group_id` when it is Empty and has no offsets left; the
    /// group's tombstone when it was removed.
    fn drop_if_empty_without_offsets(&mut self, group_id: &str) -> Option<OffsetsRecord> {
        let drop_group = self
            .groups
            .get(group_id)
            .is_some_and(|g| g.state == GroupState::Empty && !self.offsets.has_offsets(group_id));
        if !drop_group {
            return None;
        }
        self.groups.remove(group_id);
        tracing::info!(group = %group_id, "removed empty group without offsets");
        Some(OffsetsRecord {
            key: group_key(group_id),
            value: None,
        })
    }

    fn expired_offsets_of(&self, group_id: &str, now_ms: i64) -> Vec<TopicPartition> {
        let retention_ms = self.config.offsets_retention_ms;
        let Some(group) = self.groups.get(group_id) else {
            return self.offsets.expired(
                group_id,
                now_ms,
                retention_ms,
                |v| v.commit_timestamp_ms,
                |_| true,
            );
        };
        match (&group.protocol_type, group.state) {
            (None, _) => self.offsets.expired(
                group_id,
                now_ms,
                retention_ms,
                |v| v.commit_timestamp_ms,
                |_| true,
            ),
            (Some(_), GroupState::Empty) => {
                let since = group.state_since_ms;
                self.offsets
                    .expired(group_id, now_ms, retention_ms, |_| since, |_| true)
            }
            (Some(_), GroupState::Stable) => match group.subscribed_topics() {
                Some(topics) => self.offsets.expired(
                    group_id,
                    now_ms,
                    retention_ms,
                    |v| v.commit_timestamp_ms,
                    |p| !topics.contains(&p.topic),
                ),
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

fn validate_member_commit(
    group: &mut Group,
    input: &OffsetCommitInput,
    now_ms: i64,
) -> Result<(), ErrorCode> {
    if group.state == GroupState::Dead {
        return Err(ErrorCode::CoordinatorNotAvailable);
    }
    if group.is_static_member_fenced(input.group_instance_id.as_deref(), &input.member_id) {
        return Err(ErrorCode::FencedInstanceId);
    }
    let simple =
        input.generation_id < 0 && input.member_id.is_empty() && input.group_instance_id.is_none();
    if input.generation_id < 0 && group.state == GroupState::Empty {
        return Ok(());
    }
    if simple {
        // An admin commit to a group with live members.
        return Err(ErrorCode::UnknownMemberId);
    }
    let Some(member) = group.members.get_mut(&input.member_id) else {
        return Err(ErrorCode::UnknownMemberId);
    };
    if input.generation_id != group.generation_id {
        return Err(ErrorCode::IllegalGeneration);
    }
    if group.state == GroupState::CompletingRebalance {
        return Err(ErrorCode::RebalanceInProgress);
    }
    member.last_heartbeat_ms = now_ms;
    Ok(())
}

fn result(partition: &TopicPartition, error: ErrorCode) -> PartitionResult {
    PartitionResult {
        partition: partition.clone(),
        error,
    }
}
