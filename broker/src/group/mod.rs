//! The classic group coordinator as a sans-IO core.
//!
//! Kafka's classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete, ListGroups,
//! DescribeGroups, DeleteGroups) with session and rebalance timeouts,
//! generation fencing, KIP-394 member ids and KIP-345 static membership.
//! It never reads a clock, touches a socket or a file: time comes in as
//! `now_ms`, member ids from an injected [`MemberIdGenerator`], and every
//! effect goes out as an [`Outcome`].
//!
//! # Wiring (for the broker shell)
//!
//! 1. **Start.** Build one [`GroupCoordinator`] per broker with a
//!    [`GroupConfig`]. For each `__consumer_offsets` partition this broker
//!    leads, replay its records in log order with
//!    [`GroupCoordinator::load_record`] (key bytes, value bytes or `None` for
//!    a tombstone), then call [`GroupCoordinator::finish_loading`].
//! 2. **Requests.** Give every request a unique [`RequestToken`], decode it
//!    with `kafka-protocol`, map it into the input struct of [`messages`]
//!    (pass the request's `api_version` where the input asks for it; for
//!    JoinGroup v0 pass the session timeout as the rebalance timeout), and
//!    call the method of the same name (`join_group`, `sync_group`,
//!    `heartbeat`, `leave_group`, `offset_commit`, `offset_fetch`,
//!    `offset_delete`, `list_groups`, `describe_groups`, `delete_groups`).
//! 3. **Outcomes.** Every call (and `tick`, `persisted`) returns an
//!    [`Outcome`]. Send each [`Response`] to the request named by its token
//!    (it may answer an earlier request: JoinGroup waits for the join phase,
//!    SyncGroup for the leader's assignment, OffsetCommit for durability).
//!    Append each [`Persist`] as one batch to `__consumer_offsets` partition
//!    `persist.partition` (= [`offsets_partition_for`]), in order, then call
//!    [`GroupCoordinator::persisted`] with its id and `Ok(())` or the error
//!    clients should see ([`append_error_to_client`] maps append errors the
//!    way Kafka does); that outcome carries the replies that waited on it.
//! 4. **Time.** Call [`GroupCoordinator::tick`] periodically (every 100 ms
//!    or so) with the current time; it expires sessions, pending members,
//!    join and sync phases and old offsets.
//! 5. **FindCoordinator** is the shell's: the coordinator of a group is the
//!    leader of partition [`offsets_partition_for`]`(group_id, partitions)`.
//! 6. **LeaveGroup v0-2** has no member list in its response: answer with
//!    the single member's error when the top-level error is NONE.
//! 7. **OffsetFetch v8+** batches groups: call `offset_fetch` per group.
//! 8. **Ownership.** One task (or one short `Mutex` section) owns the
//!    coordinator; answer NOT_COORDINATOR yourself for groups whose
//!    partition this broker does not lead, and call
//!    [`GroupCoordinator::unload_partition`] when it stops leading one.
//!
//! # Behaviour notes (where Kafka leaves room or we differ)
//!
//! - Static members that did not rejoin survive the join phase (Kafka's
//!   rule); dynamic ones are removed.
//! - Protocol votes that tie go to the smallest protocol name.
//! - A JoinGroup retried while the member's earlier one is still parked
//!   answers the earlier one with REBALANCE_IN_PROGRESS.
//! - If storing a static member's replacement fails, the client gets the
//!   error but the replacement is not reverted (Kafka reverts it).
//! - Offsets with a v1 explicit expiry are honoured when loaded but never
//!   written; transactional offset commits are not handled here.
//! - `tick` scans every group: O(groups + members) per call.
//!
//! Status: READY for wiring.

mod admin;
mod config;
mod coordinator;
mod join;
mod loader;
mod member;
pub mod messages;
mod offset_api;
mod offsets;
mod outcome;
mod rebalance;
pub mod records;
mod state;
mod sync;

#[cfg(test)]
mod admin_tests;
#[cfg(test)]
mod membership_tests;
#[cfg(test)]
mod offsets_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod records_tests;
#[cfg(test)]
mod testing;

pub use config::GroupConfig;
pub use coordinator::{GroupCoordinator, append_error_to_client};
pub use member::{CountingMemberIds, JoinProtocol, Member, MemberIdGenerator, UuidMemberIds};
pub use offsets::OffsetStore;
pub use outcome::{Outcome, Persist, PersistId, Reply, RequestToken, Response};
pub use records::{OffsetsRecord, RecordError, java_string_hashcode, offsets_partition_for};
pub use state::{CONSUMER_PROTOCOL_TYPE, Group, GroupState};
#[cfg(test)]
mod static_membership_tests;
#[cfg(test)]
mod sync_tests;
