//! The coordinator: owns every group and committed offset of this broker,
//! and turns requests, append results and time into [`Outcome`]s.

use std::collections::BTreeMap;

use sluice_protocol::ErrorCode;

use super::config::GroupConfig;
use super::member::{MemberIdGenerator, UuidMemberIds};
use super::messages::TopicPartition;
use super::offsets::OffsetStore;
use super::outcome::{Outcome, Persist, PersistId, Response};
use super::records::{
    OffsetValue, OffsetsRecord, encode_group_value, group_key, offsets_partition_for,
};
use super::state::Group;

/// What to do once an append is durable (or failed).
#[derive(Debug)]
pub(crate) enum PersistWaiter {
    /// Send these responses; on failure, send them carrying the error.
    Replies(Vec<Response>),
    /// One of several appends a single reply waits for (DeleteGroups over
    /// groups in different partitions): the key into `shared_replies`.
    Shared(u64),
    /// Apply these commits to the offset store, then reply.
    Offsets {
        group_id: String,
        offsets: Vec<(TopicPartition, OffsetValue)>,
        response: Response,
    },
    /// The leader's assignment of `generation_id`: reply to the syncing
    /// members; on failure, throw the assignment away and rebalance.
    Assignment {
        group_id: String,
        generation_id: i32,
        replies: Vec<Response>,
    },
}

/// The classic group coordinator (sans-IO). See the module docs for wiring.
#[derive(Debug)]
pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    pub(crate) member_ids: Box<dyn MemberIdGenerator>,
    pub(crate) groups: BTreeMap<String, Group>,
    pub(crate) offsets: OffsetStore,
    pub(crate) awaiting_persist: BTreeMap<PersistId, PersistWaiter>,
    /// Replies waiting on several appends, with how many are outstanding.
    shared_replies: BTreeMap<u64, SharedReply>,
    next_persist_id: u64,
    pub(crate) next_offset_expiry_ms: Option<i64>,
}

impl GroupCoordinator {
    /// A coordinator with Kafka-style random member ids.
    pub fn new(config: GroupConfig) -> Self {
        Self::with_member_ids(config, Box::new(UuidMemberIds))
    }

    /// A coordinator drawing member ids from `member_ids` (tests and
    /// simulations inject a deterministic generator).
    pub fn with_member_ids(config: GroupConfig, member_ids: Box<dyn MemberIdGenerator>) -> Self {
        Self {
            config,
            member_ids,
            groups: BTreeMap::new(),
            offsets: OffsetStore::default(),
            awaiting_persist: BTreeMap::new(),
            shared_replies: BTreeMap::new(),
            next_persist_id: 0,
            next_offset_expiry_ms: None,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// A group, if it exists.
    pub fn group(&self, group_id: &str) -> Option<&Group> {
        self.groups.get(group_id)
    }

    /// Every group, by id.
    pub fn groups(&self) -> &BTreeMap<String, Group> {
        &self.groups
    }

    /// The durable committed offsets.
    pub fn offsets(&self) -> &OffsetStore {
        &self.offsets
    }

    /// The `__consumer_offsets` partition of `group_id` under this config.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        offsets_partition_for(group_id, self.config.offsets_topic_num_partitions)
    }

    /// Report the result of appending `id`'s records. `Err(code)` carries
    /// the error clients should see (typically NOT_COORDINATOR or
    /// COORDINATOR_NOT_AVAILABLE, see [`append_error_to_client`]).
    pub fn persisted(
        &mut self,
        id: PersistId,
        result: Result<(), ErrorCode>,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        let Some(waiter) = self.awaiting_persist.remove(&id) else {
            tracing::warn!(?id, "append result for an unknown persist id");
            return out;
        };
        match (waiter, result) {
            (PersistWaiter::Replies(replies), result) => send_all(&mut out, replies, result.err()),
            (PersistWaiter::Shared(key), result) => {
                self.shared_persisted(key, result.err(), &mut out)
            }
            (
                PersistWaiter::Offsets {
                    group_id,
                    offsets,
                    response,
                },
                Ok(()),
            ) => {
                for (partition, value) in offsets {
                    self.offsets.commit(&group_id, partition, value);
                }
                out.responses.push(response);
            }
            (PersistWaiter::Offsets { response, .. }, Err(code)) => {
                send_all(&mut out, vec![response], Some(code));
            }
            (
                PersistWaiter::Assignment {
                    group_id,
                    generation_id,
                    replies,
                },
                result,
            ) => {
                self.assignment_persisted(
                    &group_id,
                    generation_id,
                    id,
                    result.err(),
                    now_ms,
                    &mut out,
                );
                send_all(&mut out, replies, result.err());
            }
        }
        out
    }

    fn assignment_persisted(
        &mut self,
        group_id: &str,
        generation_id: i32,
        id: PersistId,
        error: Option<ErrorCode>,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        let Some(mut group) = self.groups.remove(group_id) else {
            return;
        };
        if group.assignment_persist == Some(id) {
            group.assignment_persist = None;
        }
        if let Some(code) = error
            && group.generation_id == generation_id
        {
            tracing::warn!(
                group = group_id,
                ?code,
                "storing the assignment failed; rebalancing"
            );
            for member in group.members.values_mut() {
                member.assignment = bytes::Bytes::new();
            }
            self.maybe_prepare_rebalance(&mut group, now_ms, out);
        }
        self.groups.insert(group_id.to_owned(), group);
    }

    fn shared_persisted(&mut self, key: u64, error: Option<ErrorCode>, out: &mut Outcome) {
        let Some(shared) = self.shared_replies.get_mut(&key) else {
            return;
        };
        shared.remaining = shared.remaining.saturating_sub(1);
        shared.error = shared.error.or(error);
        if shared.remaining == 0
            && let Some(done) = self.shared_replies.remove(&key)
        {
            send_all(out, vec![done.response], done.error);
        }
    }

    /// Queue appends of several groups' records; `response` goes out once
    /// all of them are durable (with the first error if one failed).
    pub(crate) fn persist_all(
        &mut self,
        appends: Vec<(String, Vec<OffsetsRecord>)>,
        response: Response,
        out: &mut Outcome,
    ) {
        if appends.is_empty() {
            out.responses.push(response);
            return;
        }
        let key = self.next_persist_id;
        self.shared_replies.insert(
            key,
            SharedReply {
                response,
                remaining: appends.len(),
                error: None,
            },
        );
        for (group_id, records) in appends {
            self.persist(&group_id, records, PersistWaiter::Shared(key), out);
        }
    }

    /// Queue an append of `records` for `group_id`, to be followed by `waiter`.
    pub(crate) fn persist(
        &mut self,
        group_id: &str,
        records: Vec<OffsetsRecord>,
        waiter: PersistWaiter,
        out: &mut Outcome,
    ) -> PersistId {
        let id = PersistId(self.next_persist_id);
        self.next_persist_id += 1;
        self.awaiting_persist.insert(id, waiter);
        out.persists.push(Persist {
            id,
            group_id: group_id.to_owned(),
            partition: self.partition_for(group_id),
            records,
        });
        id
    }

    /// The record holding `group`'s current metadata.
    pub(crate) fn group_record(group: &Group) -> OffsetsRecord {
        OffsetsRecord {
            key: group_key(&group.group_id),
            value: Some(encode_group_value(&group.to_record_value())),
        }
    }

    /// Run `f` on the group taken out of the map, so `f` may use `self`.
    pub(crate) fn with_group<R>(
        &mut self,
        group_id: &str,
        f: impl FnOnce(&mut Self, &mut Group) -> R,
    ) -> Option<R> {
        let mut group = self.groups.remove(group_id)?;
        let result = f(self, &mut group);
        if group.state != super::state::GroupState::Dead {
            self.groups.insert(group_id.to_owned(), group);
        }
        Some(result)
    }
}

/// A reply waiting for several appends.
#[derive(Debug)]
struct SharedReply {
    response: Response,
    remaining: usize,
    error: Option<ErrorCode>,
}

/// Send `replies`, replacing their outcomes by `error` if there is one.
fn send_all(out: &mut Outcome, replies: Vec<Response>, error: Option<ErrorCode>) {
    for mut response in replies {
        if let Some(code) = error {
            response.reply.fail(code);
        }
        out.responses.push(response);
    }
}

/// Kafka's mapping from a failed `__consumer_offsets` append to the error a
/// group client sees: the coordinator moved, is unavailable, or the commit
/// was too large.
pub fn append_error_to_client(append_error: ErrorCode) -> ErrorCode {
    match append_error {
        ErrorCode::UnknownTopicOrPartition
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::NotEnoughReplicasAfterAppend
        | ErrorCode::RequestTimedOut => ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotLeaderOrFollower | ErrorCode::KafkaStorageError => ErrorCode::NotCoordinator,
        ErrorCode::MessageTooLarge
        | ErrorCode::RecordListTooLarge
        | ErrorCode::InvalidFetchSize => ErrorCode::InvalidCommitOffsetSize,
        _ => ErrorCode::UnknownServerError,
    }
}
