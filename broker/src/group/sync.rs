//! SyncGroup, Heartbeat and LeaveGroup: the requests of members already in
//! a generation.

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_protocol::ErrorCode;

use super::coordinator::{GroupCoordinator, PersistWaiter};
use super::messages::{
    HeartbeatInput, LeaveGroupInput, LeaveGroupOutput, LeavingMember, LeftMember, SyncGroupInput,
    SyncGroupOutput,
};
use super::outcome::{Outcome, Reply, RequestToken, Response};
use super::state::{Group, GroupState};

impl GroupCoordinator {
    /// Handle SyncGroup. Followers that sync before the leader are answered
    /// once the leader's assignment is durable.
    pub fn sync_group(
        &mut self,
        token: RequestToken,
        input: SyncGroupInput,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        let group_id = input.group_id.clone();
        let result = self.with_group(&group_id, |this, group| {
            this.sync_in_group(group, token, input, now_ms, &mut out)
        });
        if result.is_none() {
            out.respond(
                token,
                Reply::SyncGroup(SyncGroupOutput::error(ErrorCode::UnknownMemberId)),
            );
        }
        out
    }

    fn sync_in_group(
        &mut self,
        group: &mut Group,
        token: RequestToken,
        input: SyncGroupInput,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        if let Err(error) = validate_sync(group, &input) {
            out.respond(token, Reply::SyncGroup(SyncGroupOutput::error(error)));
            return;
        }
        let member_id = input.member_id.clone();
        if let Some(member) = group.members.get_mut(&member_id) {
            member.last_heartbeat_ms = now_ms;
        }
        match group.state {
            GroupState::Empty => {
                out.respond(
                    token,
                    Reply::SyncGroup(SyncGroupOutput::error(ErrorCode::UnknownMemberId)),
                );
            }
            GroupState::PreparingRebalance | GroupState::Dead => {
                out.respond(
                    token,
                    Reply::SyncGroup(SyncGroupOutput::error(ErrorCode::RebalanceInProgress)),
                );
            }
            GroupState::CompletingRebalance => {
                mark_synced(group, &member_id);
                if let Some(previous) = group.sync_waiters.insert(member_id.clone(), token) {
                    out.respond(
                        previous,
                        Reply::SyncGroup(SyncGroupOutput::error(ErrorCode::RebalanceInProgress)),
                    );
                }
                if group.leader_id.as_deref() == Some(member_id.as_str()) {
                    self.store_assignment(group, input.assignments, now_ms, out);
                }
            }
            GroupState::Stable => {
                mark_synced(group, &member_id);
                let response = Response {
                    token,
                    reply: Reply::SyncGroup(sync_response(group, &member_id)),
                };
                match group
                    .assignment_persist
                    .and_then(|id| self.awaiting_persist.get_mut(&id))
                {
                    Some(PersistWaiter::Assignment { replies, .. }) => replies.push(response),
                    _ => out.responses.push(response),
                }
            }
        }
    }

    /// The leader's assignment: store it, become Stable, and release the
    /// parked members once the record is durable.
    fn store_assignment(
        &mut self,
        group: &mut Group,
        assignments: Vec<(String, Bytes)>,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        let mut by_member: BTreeMap<String, Bytes> = assignments.into_iter().collect();
        for member in group.members.values_mut() {
            member.assignment = by_member.remove(&member.member_id).unwrap_or_default();
        }
        group.transition_to(GroupState::Stable, now_ms);
        let replies = std::mem::take(&mut group.sync_waiters)
            .into_iter()
            .map(|(member_id, token)| Response {
                token,
                reply: Reply::SyncGroup(sync_response(group, &member_id)),
            })
            .collect();
        let record = Self::group_record(group);
        let waiter = PersistWaiter::Assignment {
            group_id: group.group_id.clone(),
            generation_id: group.generation_id,
            replies,
        };
        let id = self.persist(&group.group_id.clone(), vec![record], waiter, out);
        group.assignment_persist = Some(id);
    }

    /// Handle Heartbeat.
    pub fn heartbeat(
        &mut self,
        token: RequestToken,
        input: HeartbeatInput,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        let error = match self.groups.get_mut(&input.group_id) {
            None => ErrorCode::UnknownMemberId,
            Some(group) => heartbeat_in_group(group, &input, now_ms),
        };
        out.respond(token, Reply::Heartbeat(error));
        out
    }

    /// Handle LeaveGroup (one member for v0-2, a batch for v3+).
    pub fn leave_group(
        &mut self,
        token: RequestToken,
        input: LeaveGroupInput,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        let result = self.with_group(&input.group_id, |this, group| {
            let members = input
                .members
                .iter()
                .map(|m| this.leave_one(group, m, now_ms, &mut out))
                .collect();
            LeaveGroupOutput {
                error: ErrorCode::None,
                members,
            }
        });
        let reply = result.unwrap_or_else(|| LeaveGroupOutput {
            error: ErrorCode::None,
            members: input
                .members
                .iter()
                .map(|m| left(m, ErrorCode::UnknownMemberId))
                .collect(),
        });
        out.respond(token, Reply::LeaveGroup(reply));
        out
    }

    fn leave_one(
        &mut self,
        group: &mut Group,
        leaving: &LeavingMember,
        now_ms: i64,
        out: &mut Outcome,
    ) -> LeftMember {
        let instance_id = leaving.group_instance_id.as_deref();
        let member_id = if leaving.member_id.is_empty() {
            match instance_id.and_then(|id| group.static_members.get(id)) {
                Some(id) => id.clone(),
                None => return left(leaving, ErrorCode::UnknownMemberId),
            }
        } else if group.is_static_member_fenced(instance_id, &leaving.member_id) {
            return left(leaving, ErrorCode::FencedInstanceId);
        } else {
            leaving.member_id.clone()
        };
        if group.pending_members.remove(&member_id).is_some() {
            self.try_complete_join(group, now_ms, out);
            return left(leaving, ErrorCode::None);
        }
        if !group.members.contains_key(&member_id) {
            return left(leaving, ErrorCode::UnknownMemberId);
        }
        tracing::info!(group = %group.group_id, member = %member_id, "member left");
        self.remove_member_and_update_group(group, &member_id, now_ms, out);
        left(leaving, ErrorCode::None)
    }
}

/// Kafka's checks, in Kafka's order.
fn validate_sync(group: &Group, input: &SyncGroupInput) -> Result<(), ErrorCode> {
    if group.is_static_member_fenced(input.group_instance_id.as_deref(), &input.member_id) {
        return Err(ErrorCode::FencedInstanceId);
    }
    if !group.members.contains_key(&input.member_id) {
        return Err(ErrorCode::UnknownMemberId);
    }
    if input.generation_id != group.generation_id {
        return Err(ErrorCode::IllegalGeneration);
    }
    let type_mismatch = input.protocol_type.is_some() && input.protocol_type != group.protocol_type;
    let name_mismatch = input.protocol_name.is_some() && input.protocol_name != group.protocol_name;
    if type_mismatch || name_mismatch {
        return Err(ErrorCode::InconsistentGroupProtocol);
    }
    Ok(())
}

fn heartbeat_in_group(group: &mut Group, input: &HeartbeatInput, now_ms: i64) -> ErrorCode {
    if group.state == GroupState::Dead {
        return ErrorCode::CoordinatorNotAvailable;
    }
    if group.is_static_member_fenced(input.group_instance_id.as_deref(), &input.member_id) {
        return ErrorCode::FencedInstanceId;
    }
    let Some(member) = group.members.get_mut(&input.member_id) else {
        return ErrorCode::UnknownMemberId;
    };
    if input.generation_id != group.generation_id {
        return ErrorCode::IllegalGeneration;
    }
    member.last_heartbeat_ms = now_ms;
    match group.state {
        GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
        GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
        GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
    }
}

fn mark_synced(group: &mut Group, member_id: &str) {
    if let Some(member) = group.members.get_mut(member_id) {
        member.synced = true;
    }
    if group.members.values().all(|m| m.synced) {
        group.sync_deadline_ms = None;
    }
}

fn sync_response(group: &Group, member_id: &str) -> SyncGroupOutput {
    SyncGroupOutput {
        error: ErrorCode::None,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        assignment: group
            .members
            .get(member_id)
            .map(|m| m.assignment.clone())
            .unwrap_or_default(),
    }
}

fn left(leaving: &LeavingMember, error: ErrorCode) -> LeftMember {
    LeftMember {
        member_id: leaving.member_id.clone(),
        group_instance_id: leaving.group_instance_id.clone(),
        error,
    }
}
