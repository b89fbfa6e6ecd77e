//! Rebuilding groups and offsets from the `__consumer_offsets` log.

use bytes::Bytes;

use sluice_protocol::ErrorCode;

use super::coordinator::GroupCoordinator;
use super::member::{JoinProtocol, Member};
use super::messages::{JoinGroupOutput, SyncGroupOutput};
use super::outcome::{Outcome, Reply};
use super::records::{
    GroupValue, RecordError, RecordKey, decode_group_value, decode_key, decode_offset_value,
};
use super::state::{Group, GroupState};

impl GroupCoordinator {
    /// Replay one record of a `__consumer_offsets` partition this broker
    /// coordinates, in log order: the last write of a key wins and a
    /// tombstone (`value == None`) removes it. Call before serving requests;
    /// sessions of loaded members start at `now_ms`.
    ///
    /// # Errors
    /// A record that does not decode. Records of unknown types (the key
    /// version) are skipped with a warning rather than failing the load.
    pub fn load_record(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<(), RecordError> {
        let key = match decode_key(key) {
            Ok(key) => key,
            Err(RecordError::UnknownKeyVersion(version)) => {
                tracing::warn!(
                    version,
                    "skipping __consumer_offsets record of an unknown type"
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        match (key, value) {
            (
                RecordKey::Offset {
                    group_id,
                    partition,
                },
                Some(value),
            ) => {
                let value = decode_offset_value(value)?;
                self.offsets.commit(&group_id, partition, value);
            }
            (
                RecordKey::Offset {
                    group_id,
                    partition,
                },
                None,
            ) => {
                self.offsets.delete(&group_id, &partition);
            }
            (RecordKey::Group { group_id }, Some(value)) => {
                let value = decode_group_value(value)?;
                self.groups.insert(
                    group_id.clone(),
                    group_from_record(&group_id, value, now_ms),
                );
            }
            (RecordKey::Group { group_id }, None) => {
                self.groups.remove(&group_id);
            }
        }
        Ok(())
    }

    /// Finish a load: groups known only from offsets become Empty groups
    /// without group management, as in Kafka.
    pub fn finish_loading(&mut self, now_ms: i64) {
        let orphans: Vec<String> = self
            .offsets
            .group_ids()
            .filter(|g| !self.groups.contains_key(*g))
            .cloned()
            .collect();
        for group_id in orphans {
            self.groups
                .insert(group_id.clone(), Group::new(&group_id, now_ms));
        }
    }
}

impl GroupCoordinator {
    /// Forget every group and offset stored in `__consumer_offsets`
    /// partition `partition`, when this broker stops leading it. Requests
    /// still parked for those groups are answered NOT_COORDINATOR so their
    /// clients look the coordinator up again.
    pub fn unload_partition(&mut self, partition: i32) -> Outcome {
        let mut out = Outcome::default();
        let group_ids: Vec<String> = self
            .groups
            .keys()
            .chain(self.offsets.group_ids())
            .filter(|g| self.partition_for(g) == partition)
            .cloned()
            .collect();
        for group_id in group_ids {
            if let Some(group) = self.groups.remove(&group_id) {
                for (member_id, token) in group.join_waiters {
                    let reply = JoinGroupOutput::error(ErrorCode::NotCoordinator, &member_id);
                    out.respond(token, Reply::JoinGroup(reply));
                }
                for (_, token) in group.sync_waiters {
                    out.respond(
                        token,
                        Reply::SyncGroup(SyncGroupOutput::error(ErrorCode::NotCoordinator)),
                    );
                }
            }
            self.offsets.remove_group(&group_id);
        }
        out
    }
}

/// A loaded group is Stable with its members, or Empty without.
fn group_from_record(group_id: &str, value: GroupValue, now_ms: i64) -> Group {
    let state_since_ms = if value.current_state_timestamp_ms >= 0 {
        value.current_state_timestamp_ms
    } else {
        now_ms
    };
    let mut group = Group::new(group_id, state_since_ms);
    group.generation_id = value.generation;
    group.protocol_type = Some(value.protocol_type).filter(|t| !t.is_empty());
    group.protocol_name = value.protocol.clone();
    let protocol = value.protocol.unwrap_or_default();
    for stored in value.members {
        group.add_member(Member {
            member_id: stored.member_id,
            group_instance_id: stored.group_instance_id,
            client_id: stored.client_id,
            client_host: stored.client_host,
            rebalance_timeout_ms: stored.rebalance_timeout_ms,
            session_timeout_ms: stored.session_timeout_ms,
            protocols: vec![JoinProtocol {
                name: protocol.clone(),
                metadata: Bytes::clone(&stored.subscription),
            }],
            assignment: stored.assignment,
            join_order: 0,
            last_heartbeat_ms: now_ms,
            synced: true,
        });
    }
    group.leader_id = value
        .leader
        .filter(|l| group.members.contains_key(l))
        .or_else(|| group.earliest_member(|_| true));
    if !group.members.is_empty() {
        group.state = GroupState::Stable;
    }
    group
}
