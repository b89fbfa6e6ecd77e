//! The rebalance cycle and timeouts: preparing, completing the join phase,
//! removing members, and everything `tick` expires.

use sluice_protocol::ErrorCode;

use super::coordinator::{GroupCoordinator, PersistWaiter};
use super::messages::{JoinGroupOutput, SyncGroupOutput};
use super::outcome::{Outcome, Reply};
use super::state::{Group, GroupState, InitialDelay};

impl GroupCoordinator {
    /// Start a rebalance if the group is in a state that allows one.
    pub(crate) fn maybe_prepare_rebalance(
        &mut self,
        group: &mut Group,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        if matches!(
            group.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(group, now_ms, out);
        }
    }

    /// Enter PreparingRebalance: members parked in SyncGroup learn the
    /// generation is over, and the join phase gets its deadline.
    pub(crate) fn prepare_rebalance(&mut self, group: &mut Group, now_ms: i64, out: &mut Outcome) {
        if group.state == GroupState::CompletingRebalance {
            for member in group.members.values_mut() {
                member.assignment = bytes::Bytes::new();
            }
            for (_, token) in std::mem::take(&mut group.sync_waiters) {
                out.respond(
                    token,
                    Reply::SyncGroup(SyncGroupOutput::error(ErrorCode::RebalanceInProgress)),
                );
            }
        }
        group.sync_deadline_ms = None;
        let was_empty = group.state == GroupState::Empty;
        group.transition_to(GroupState::PreparingRebalance, now_ms);
        let rebalance_timeout_ms = group.max_rebalance_timeout_ms();
        let delay_ms = i64::from(self.config.group_initial_rebalance_delay_ms);
        if was_empty && delay_ms > 0 {
            group.initial_delay = Some(InitialDelay {
                delay_ms,
                limit_ms: now_ms + delay_ms.max(rebalance_timeout_ms),
            });
            group.join_deadline_ms = Some(now_ms + delay_ms);
        } else {
            group.initial_delay = None;
            group.join_deadline_ms = Some(now_ms + rebalance_timeout_ms);
        }
        self.try_complete_join(group, now_ms, out);
    }

    /// Complete the join phase early once everyone rejoined (never during
    /// the initial delay, whose point is to wait for more members).
    pub(crate) fn try_complete_join(&mut self, group: &mut Group, now_ms: i64, out: &mut Outcome) {
        if group.state == GroupState::PreparingRebalance
            && group.initial_delay.is_none()
            && group.all_members_joined()
        {
            self.complete_join(group, now_ms, out);
        }
    }

    /// A member joined during the initial delay: give others more time,
    /// within the limit.
    pub(crate) fn extend_initial_delay(group: &mut Group, now_ms: i64) {
        if let (Some(delay), Some(deadline)) = (group.initial_delay, group.join_deadline_ms) {
            group.join_deadline_ms =
                Some(deadline.max(now_ms + delay.delay_ms).min(delay.limit_ms));
        }
    }

    /// End the join phase: drop dynamic members that did not rejoin, start
    /// the next generation and answer every parked JoinGroup.
    pub(crate) fn complete_join(&mut self, group: &mut Group, now_ms: i64, out: &mut Outcome) {
        let stale: Vec<String> = group
            .members
            .values()
            .filter(|m| {
                !group.join_waiters.contains_key(&m.member_id) && m.group_instance_id.is_none()
            })
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in stale {
            tracing::info!(group = %group.group_id, member = %member_id, "removing member that did not rejoin");
            group.remove_member(&member_id);
        }
        if !group.members.is_empty() && !self.elect_joined_leader(group) {
            // Only static members that have not rejoined remain: wait for
            // them to rejoin or for their sessions to expire (Kafka does so).
            group.join_deadline_ms = Some(now_ms + group.max_rebalance_timeout_ms());
            group.initial_delay = None;
            return;
        }
        group.join_deadline_ms = None;
        group.initial_delay = None;
        group.init_next_generation(now_ms);
        tracing::info!(group = %group.group_id, generation = group.generation_id, members = group.members.len(), "join phase complete");
        if group.state == GroupState::Empty {
            let record = Self::group_record(group);
            self.persist(
                &group.group_id.clone(),
                vec![record],
                PersistWaiter::Replies(Vec::new()),
                out,
            );
            return;
        }
        for member in group.members.values_mut() {
            member.last_heartbeat_ms = now_ms;
        }
        group.sync_deadline_ms = Some(now_ms + group.max_rebalance_timeout_ms());
        for (member_id, token) in std::mem::take(&mut group.join_waiters) {
            out.respond(token, Reply::JoinGroup(join_response(group, &member_id)));
        }
    }

    /// Make sure the leader is a member that rejoined; false if none did.
    fn elect_joined_leader(&self, group: &mut Group) -> bool {
        if group
            .leader_id
            .as_ref()
            .is_some_and(|l| group.join_waiters.contains_key(l))
        {
            return true;
        }
        match group.earliest_member(|m| group.join_waiters.contains_key(&m.member_id)) {
            Some(leader) => {
                group.leader_id = Some(leader);
                true
            }
            None => false,
        }
    }

    /// Remove a member (left, expired or failed to sync) and move the
    /// group on: a rebalance if it was settled, or an earlier join completion.
    pub(crate) fn remove_member_and_update_group(
        &mut self,
        group: &mut Group,
        member_id: &str,
        now_ms: i64,
        out: &mut Outcome,
    ) {
        if let Some(token) = group.join_waiters.get(member_id).copied() {
            let reply = JoinGroupOutput::error(ErrorCode::UnknownMemberId, member_id);
            out.respond(token, Reply::JoinGroup(reply));
        }
        if let Some(token) = group.sync_waiters.get(member_id).copied() {
            out.respond(
                token,
                Reply::SyncGroup(SyncGroupOutput::error(ErrorCode::UnknownMemberId)),
            );
        }
        group.remove_member(member_id);
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(group, now_ms, out);
            }
            GroupState::PreparingRebalance => self.try_complete_join(group, now_ms, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Advance time: expire sessions, pending members, join and sync
    /// phases, and (every `offsets.retention.check.interval.ms`) offsets.
    pub fn tick(&mut self, now_ms: i64) -> Outcome {
        let mut out = Outcome::default();
        let group_ids: Vec<String> = self.groups.keys().cloned().collect();
        for group_id in group_ids {
            self.with_group(&group_id, |this, group| {
                this.expire_group_timers(group, now_ms, &mut out)
            });
        }
        // The first check comes one interval after the first tick, as Kafka
        // schedules it one interval after start.
        let interval_ms = self.config.offsets_retention_check_interval_ms;
        let next_check_ms = *self
            .next_offset_expiry_ms
            .get_or_insert(now_ms + interval_ms);
        if now_ms >= next_check_ms {
            self.next_offset_expiry_ms = Some(now_ms + interval_ms);
            self.expire_offsets(now_ms, &mut out);
        }
        out
    }

    fn expire_group_timers(&mut self, group: &mut Group, now_ms: i64, out: &mut Outcome) {
        let before = group.pending_members.len();
        group
            .pending_members
            .retain(|_, deadline| *deadline > now_ms);
        if group.pending_members.len() != before {
            self.try_complete_join(group, now_ms, out);
        }
        let expired: Vec<String> = group
            .members
            .values()
            .filter(|m| !group.join_waiters.contains_key(&m.member_id))
            .filter(|m| !group.sync_waiters.contains_key(&m.member_id))
            .filter(|m| m.session_expired(now_ms))
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in expired {
            tracing::info!(group = %group.group_id, member = %member_id, "session expired");
            self.remove_member_and_update_group(group, &member_id, now_ms, out);
        }
        if group.state == GroupState::PreparingRebalance
            && group.join_deadline_ms.is_some_and(|at| now_ms >= at)
        {
            self.complete_join(group, now_ms, out);
        }
        self.expire_pending_sync(group, now_ms, out);
    }

    /// Members that never sent SyncGroup within the rebalance timeout after
    /// the join phase are removed and the group rebalances (as Kafka does).
    fn expire_pending_sync(&mut self, group: &mut Group, now_ms: i64, out: &mut Outcome) {
        let due = group.sync_deadline_ms.is_some_and(|at| now_ms >= at);
        if !due
            || !matches!(
                group.state,
                GroupState::CompletingRebalance | GroupState::Stable
            )
        {
            return;
        }
        group.sync_deadline_ms = None;
        let unsynced: Vec<String> = group
            .members
            .values()
            .filter(|m| !m.synced)
            .map(|m| m.member_id.clone())
            .collect();
        if unsynced.is_empty() {
            return;
        }
        for member_id in &unsynced {
            tracing::info!(group = %group.group_id, member = %member_id, "member never synced");
            group.remove_member(member_id);
        }
        self.maybe_prepare_rebalance(group, now_ms, out);
    }
}

/// The JoinGroup answer of `member_id` for the group's current generation:
/// the leader also gets every member's metadata.
pub(crate) fn join_response(group: &Group, member_id: &str) -> JoinGroupOutput {
    let is_leader = group.leader_id.as_deref() == Some(member_id);
    JoinGroupOutput {
        error: ErrorCode::None,
        generation_id: group.generation_id,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader_id.clone().unwrap_or_default(),
        member_id: member_id.to_owned(),
        members: if is_leader {
            group.current_member_metadata()
        } else {
            Vec::new()
        },
        skip_assignment: false,
    }
}
