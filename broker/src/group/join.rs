//! JoinGroup: new members, rejoining members, KIP-394 pending members and
//! KIP-345 static members.

use sluice_protocol::ErrorCode;

use super::coordinator::{GroupCoordinator, PersistWaiter};
use super::member::Member;
use super::messages::{JoinGroupInput, JoinGroupOutput};
use super::outcome::{Outcome, Reply, RequestToken, Response};
use super::rebalance::join_response;
use super::records::fits_string;
use super::state::{Group, GroupState};

/// First JoinGroup version that requires a known member id (KIP-394).
const KNOWN_MEMBER_ID_REQUIRED_VERSION: i16 = 4;
/// Longest `group.instance.id` Kafka accepts.
const MAX_GROUP_INSTANCE_ID_LENGTH: usize = 249;
/// Longest client id kept as a member id prefix, so ids stay short.
const MAX_MEMBER_ID_PREFIX_LENGTH: usize = 255;

impl GroupCoordinator {
    /// Handle JoinGroup. The response for `token` may come in this outcome
    /// or a later one, when the join phase completes.
    pub fn join_group(
        &mut self,
        token: RequestToken,
        input: JoinGroupInput,
        now_ms: i64,
    ) -> Outcome {
        let mut out = Outcome::default();
        if let Err(error) = self.validate_join(&input) {
            out.respond(
                token,
                Reply::JoinGroup(JoinGroupOutput::error(error, &input.member_id)),
            );
            return out;
        }
        let created = !self.groups.contains_key(&input.group_id);
        if created {
            if !input.member_id.is_empty() {
                let reply = JoinGroupOutput::error(ErrorCode::UnknownMemberId, &input.member_id);
                out.respond(token, Reply::JoinGroup(reply));
                return out;
            }
            self.groups
                .insert(input.group_id.clone(), Group::new(&input.group_id, now_ms));
        }
        let group_id = input.group_id.clone();
        let joined = self.with_group(&group_id, |this, group| {
            this.join_existing(group, token, input, now_ms, &mut out)
        });
        let failed = joined.is_some_and(|r| r.is_err());
        if created && failed && !self.offsets.has_offsets(&group_id) {
            self.groups.remove(&group_id);
        }
        out
    }

    fn validate_join(&self, input: &JoinGroupInput) -> Result<(), ErrorCode> {
        if input.group_id.is_empty() || !fits_string(&input.group_id) {
            return Err(ErrorCode::InvalidGroupId);
        }
        let session = input.session_timeout_ms;
        if session < self.config.group_min_session_timeout_ms
            || session > self.config.group_max_session_timeout_ms
        {
            return Err(ErrorCode::InvalidSessionTimeout);
        }
        let instance_too_long = input
            .group_instance_id
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.len() > MAX_GROUP_INSTANCE_ID_LENGTH);
        let fields_fit = fits_string(&input.protocol_type)
            && fits_string(&input.client_id)
            && fits_string(&input.client_host)
            && fits_string(&input.member_id)
            && input.protocols.iter().all(|p| fits_string(&p.name));
        if instance_too_long || !fields_fit {
            return Err(ErrorCode::InvalidRequest);
        }
        Ok(())
    }

    /// Join an existing group; `Err` when the join was refused (already
    /// answered in `out`).
    fn join_existing(
        &mut self,
        group: &mut Group,
        token: RequestToken,
        input: JoinGroupInput,
        now_ms: i64,
        out: &mut Outcome,
    ) -> Result<(), ErrorCode> {
        let refuse = |out: &mut Outcome, error: ErrorCode, member_id: &str| {
            out.respond(
                token,
                Reply::JoinGroup(JoinGroupOutput::error(error, member_id)),
            );
            Err(error)
        };
        if group.state == GroupState::Dead {
            return refuse(out, ErrorCode::CoordinatorNotAvailable, &input.member_id);
        }
        if !group.supports_protocols(&input.protocol_type, &input.protocols) {
            return refuse(out, ErrorCode::InconsistentGroupProtocol, &input.member_id);
        }
        let is_new =
            input.member_id.is_empty() || group.pending_members.contains_key(&input.member_id);
        if is_new && !group.members.contains_key(&input.member_id) {
            let is_known_static = input
                .group_instance_id
                .as_ref()
                .is_some_and(|id| group.static_members.contains_key(id));
            if !is_known_static && group.members.len() >= self.config.group_max_size {
                return refuse(out, ErrorCode::GroupMaxSizeReached, &input.member_id);
            }
        }
        if input.member_id.is_empty() {
            self.join_new_member(group, token, input, now_ms, out);
            return Ok(());
        }
        self.join_known_member(group, token, input, now_ms, out)
    }

    fn join_new_member(
        &mut self,
        group: &mut Group,
        token: RequestToken,
        input: JoinGroupInput,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        let prefix = input
            .group_instance_id
            .as_deref()
            .unwrap_or(&input.client_id);
        let member_id = self
            .member_ids
            .next_member_id(truncate(prefix, MAX_MEMBER_ID_PREFIX_LENGTH));
        if let Some(instance_id) = input.group_instance_id.clone() {
            match group.static_members.get(&instance_id).cloned() {
                Some(old_member_id) => {
                    self.replace_static_member(
                        group,
                        token,
                        &old_member_id,
                        member_id,
                        input,
                        now_ms,
                        out,
                    );
                }
                None => self.add_member_and_rebalance(group, token, member_id, input, now_ms, out),
            }
        } else if input.api_version >= KNOWN_MEMBER_ID_REQUIRED_VERSION {
            // KIP-394: hand out the id first, so a client that times out
            // retries with it instead of piling up anonymous members.
            let deadline_ms = now_ms + i64::from(input.session_timeout_ms);
            group.pending_members.insert(member_id.clone(), deadline_ms);
            let reply = JoinGroupOutput::error(ErrorCode::MemberIdRequired, &member_id);
            out.respond(token, Reply::JoinGroup(reply));
        } else {
            self.add_member_and_rebalance(group, token, member_id, input, now_ms, out);
        }
    }

    fn join_known_member(
        &mut self,
        group: &mut Group,
        token: RequestToken,
        input: JoinGroupInput,
        now_ms: i64,
        out: &mut Outcome,
    ) -> Result<(), ErrorCode> {
        let member_id = input.member_id.clone();
        if group.pending_members.remove(&member_id).is_some() {
            self.add_member_and_rebalance(group, token, member_id, input, now_ms, out);
            return Ok(());
        }
        let error = if group.is_static_member_fenced(input.group_instance_id.as_deref(), &member_id)
        {
            Some(ErrorCode::FencedInstanceId)
        } else if !group.members.contains_key(&member_id)
            || matches!(group.state, GroupState::Empty | GroupState::Dead)
        {
            Some(ErrorCode::UnknownMemberId)
        } else {
            None
        };
        if let Some(error) = error {
            out.respond(
                token,
                Reply::JoinGroup(JoinGroupOutput::error(error, &member_id)),
            );
            return Err(error);
        }
        let unchanged = group
            .members
            .get(&member_id)
            .is_some_and(|m| m.protocols == input.protocols);
        let is_leader = group.leader_id.as_deref() == Some(member_id.as_str());
        let answer_now = match group.state {
            GroupState::CompletingRebalance => unchanged,
            GroupState::Stable => unchanged && !is_leader,
            _ => false,
        };
        if answer_now {
            if let Some(member) = group.members.get_mut(&member_id) {
                member.last_heartbeat_ms = now_ms;
            }
            out.respond(token, Reply::JoinGroup(join_response(group, &member_id)));
        } else {
            self.update_member_and_rebalance(group, token, input, now_ms, out);
        }
        Ok(())
    }

    fn add_member_and_rebalance(
        &mut self,
        group: &mut Group,
        token: RequestToken,
        member_id: String,
        input: JoinGroupInput,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        if group.members.is_empty() {
            group.protocol_type = Some(input.protocol_type.clone());
        }
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: input.group_instance_id,
            client_id: input.client_id,
            client_host: input.client_host,
            rebalance_timeout_ms: input.rebalance_timeout_ms,
            session_timeout_ms: input.session_timeout_ms,
            protocols: input.protocols,
            assignment: bytes::Bytes::new(),
            join_order: 0,
            last_heartbeat_ms: now_ms,
            synced: false,
        };
        group.add_member(member);
        group.join_waiters.insert(member_id, token);
        Self::extend_initial_delay(group, now_ms);
        self.maybe_prepare_rebalance(group, now_ms, out);
        self.try_complete_join(group, now_ms, out);
    }

    fn update_member_and_rebalance(
        &mut self,
        group: &mut Group,
        token: RequestToken,
        input: JoinGroupInput,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        let Some(member) = group.members.get_mut(&input.member_id) else {
            return;
        };
        member.protocols = input.protocols;
        member.rebalance_timeout_ms = input.rebalance_timeout_ms;
        member.session_timeout_ms = input.session_timeout_ms;
        member.last_heartbeat_ms = now_ms;
        if let Some(previous) = group.join_waiters.insert(input.member_id.clone(), token) {
            // A retried JoinGroup supersedes the parked one.
            let reply = JoinGroupOutput::error(ErrorCode::RebalanceInProgress, &input.member_id);
            out.respond(previous, Reply::JoinGroup(reply));
        }
        self.maybe_prepare_rebalance(group, now_ms, out);
        self.try_complete_join(group, now_ms, out);
    }

    /// KIP-345: a known `group.instance.id` rejoined with a new member id.
    /// The old id is fenced; a Stable group whose protocol would not change
    /// keeps its assignment and skips the rebalance.
    #[allow(clippy::too_many_arguments)]
    fn replace_static_member(
        &mut self,
        group: &mut Group,
        token: RequestToken,
        old_member_id: &str,
        new_member_id: String,
        input: JoinGroupInput,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        if let Some(old_token) = group.join_waiters.remove(old_member_id) {
            let reply = JoinGroupOutput::error(ErrorCode::FencedInstanceId, old_member_id);
            out.respond(old_token, Reply::JoinGroup(reply));
        }
        if let Some(old_token) = group.sync_waiters.remove(old_member_id) {
            out.respond(
                old_token,
                Reply::SyncGroup(super::messages::SyncGroupOutput::error(
                    ErrorCode::FencedInstanceId,
                )),
            );
        }
        let Some(mut member) = group.members.remove(old_member_id) else {
            return;
        };
        member.member_id = new_member_id.clone();
        member.protocols = input.protocols;
        member.rebalance_timeout_ms = input.rebalance_timeout_ms;
        member.session_timeout_ms = input.session_timeout_ms;
        member.client_id = input.client_id;
        member.client_host = input.client_host;
        member.last_heartbeat_ms = now_ms;
        if let Some(instance_id) = &member.group_instance_id {
            group
                .static_members
                .insert(instance_id.clone(), new_member_id.clone());
        }
        if group.leader_id.as_deref() == Some(old_member_id) {
            group.leader_id = Some(new_member_id.clone());
        }
        group.members.insert(new_member_id.clone(), member);
        tracing::info!(group = %group.group_id, old = old_member_id, new = %new_member_id, "static member replaced");
        let keeps_protocol =
            group.protocol_name.is_some() && group.select_protocol() == group.protocol_name;
        if group.state == GroupState::Stable && keeps_protocol {
            let mut reply = join_response(group, &new_member_id);
            reply.skip_assignment = reply.leader == new_member_id;
            let response = Response {
                token,
                reply: Reply::JoinGroup(reply),
            };
            let record = Self::group_record(group);
            self.persist(
                &group.group_id.clone(),
                vec![record],
                PersistWaiter::Replies(vec![response]),
                out,
            );
            return;
        }
        group.join_waiters.insert(new_member_id, token);
        match group.state {
            GroupState::CompletingRebalance => self.prepare_rebalance(group, now_ms, out),
            _ => self.maybe_prepare_rebalance(group, now_ms, out),
        }
        self.try_complete_join(group, now_ms, out);
    }
}

/// The longest prefix of `s` within `max_bytes`, cut at a char boundary.
fn truncate(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
