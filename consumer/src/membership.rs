//! Group membership state (sans-IO): who we are in the group (member id,
//! generation), whether we must (re)join, and when the heartbeat task must
//! act. Times are milliseconds on a caller-supplied clock, so tests drive it
//! without sleeping.

use sluice_protocol::ErrorCode;

/// The member's place in the group protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberState {
    /// Not in the group: must send JoinGroup.
    Unjoined,
    /// JoinGroup/SyncGroup in progress (no heartbeats).
    Rebalancing,
    /// Has an assignment for the current generation.
    Stable,
}

/// What the heartbeat task should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeartbeatAction {
    /// Nothing until this many ms have passed.
    Wait(u64),
    /// Send a Heartbeat for the current generation.
    Send,
    /// `poll` has not been called within `max_poll_interval_ms`: leave the
    /// group so the partitions move to a live member.
    LeaveForPollTimeout,
}

/// Membership timers and identity.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    pub(crate) member_id: String,
    pub(crate) generation: i32,
    pub(crate) state: MemberState,
    /// A rebalance was signalled (by the coordinator or a local change).
    rejoin_needed: bool,
    heartbeat_interval_ms: u64,
    max_poll_interval_ms: u64,
    last_heartbeat_ms: u64,
    last_poll_ms: u64,
    /// Set when the coordinator fenced our `group.instance.id`: fatal.
    pub(crate) fenced: bool,
}

/// The generation of a member outside any generation (Kafka's `-1`).
pub(crate) const NO_GENERATION: i32 = -1;

impl Membership {
    /// A member that has not joined yet.
    pub(crate) fn new(heartbeat_interval_ms: u64, max_poll_interval_ms: u64, now_ms: u64) -> Self {
        Membership {
            member_id: String::new(),
            generation: NO_GENERATION,
            state: MemberState::Unjoined,
            rejoin_needed: true,
            heartbeat_interval_ms,
            max_poll_interval_ms,
            last_heartbeat_ms: now_ms,
            last_poll_ms: now_ms,
            fenced: false,
        }
    }

    /// Whether `poll` must run a rebalance before fetching.
    pub(crate) fn needs_rejoin(&self) -> bool {
        self.rejoin_needed || self.state != MemberState::Stable
    }

    /// Asks for a rebalance at the next `poll`.
    pub(crate) fn request_rejoin(&mut self) {
        self.rejoin_needed = true;
    }

    /// The application called `poll`.
    pub(crate) fn on_poll(&mut self, now_ms: u64) {
        self.last_poll_ms = now_ms;
    }

    /// JoinGroup was sent.
    pub(crate) fn on_join_started(&mut self) {
        self.state = MemberState::Rebalancing;
        self.rejoin_needed = false;
    }

    /// JoinGroup answered with our identity for `generation`.
    pub(crate) fn on_joined(&mut self, member_id: String, generation: i32) {
        self.member_id = member_id;
        self.generation = generation;
    }

    /// SyncGroup delivered our assignment.
    pub(crate) fn on_synced(&mut self, now_ms: u64) {
        self.state = MemberState::Stable;
        self.last_heartbeat_ms = now_ms;
    }

    /// Forgets the generation (and the member id when `reset_member_id`), as
    /// after UNKNOWN_MEMBER_ID or leaving.
    pub(crate) fn reset(&mut self, reset_member_id: bool) {
        if reset_member_id {
            self.member_id.clear();
        }
        self.generation = NO_GENERATION;
        self.state = MemberState::Unjoined;
        self.rejoin_needed = true;
    }

    /// What the heartbeat task should do at `now_ms`.
    pub(crate) fn heartbeat_action(&self, now_ms: u64) -> HeartbeatAction {
        if self.state != MemberState::Stable {
            return HeartbeatAction::Wait(self.heartbeat_interval_ms);
        }
        if now_ms.saturating_sub(self.last_poll_ms) > self.max_poll_interval_ms {
            return HeartbeatAction::LeaveForPollTimeout;
        }
        let due = self.last_heartbeat_ms + self.heartbeat_interval_ms;
        if now_ms >= due {
            HeartbeatAction::Send
        } else {
            HeartbeatAction::Wait(due - now_ms)
        }
    }

    /// A Heartbeat was sent at `now_ms`.
    pub(crate) fn on_heartbeat_sent(&mut self, now_ms: u64) {
        self.last_heartbeat_ms = now_ms;
    }

    /// The Heartbeat answer for `generation`; answers for an older generation are ignored.
    pub(crate) fn on_heartbeat_response(&mut self, generation: i32, code: ErrorCode) {
        if generation != self.generation {
            return;
        }
        match code {
            ErrorCode::None => {}
            ErrorCode::RebalanceInProgress => self.rejoin_needed = true,
            ErrorCode::IllegalGeneration => self.reset(false),
            ErrorCode::UnknownMemberId => self.reset(true),
            ErrorCode::FencedInstanceId => {
                self.fenced = true;
                self.reset(false);
            }
            // Coordinator moves and transport errors: the next heartbeat retries.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stable(now_ms: u64) -> Membership {
        let mut membership = Membership::new(1_000, 10_000, now_ms);
        membership.on_join_started();
        membership.on_joined("m-1".to_owned(), 3);
        membership.on_synced(now_ms);
        membership
    }

    #[test]
    fn a_new_member_must_join() {
        assert!(Membership::new(1_000, 10_000, 0).needs_rejoin());
    }

    #[test]
    fn heartbeat_is_due_one_interval_after_the_last() {
        let membership = stable(0);
        assert_eq!(membership.heartbeat_action(400), HeartbeatAction::Wait(600));
        assert_eq!(membership.heartbeat_action(1_000), HeartbeatAction::Send);
    }

    #[test]
    fn no_heartbeat_while_rebalancing() {
        let mut membership = stable(0);
        membership.on_join_started();
        assert_eq!(
            membership.heartbeat_action(5_000),
            HeartbeatAction::Wait(1_000)
        );
    }

    #[test]
    fn missing_polls_for_max_poll_interval_leaves_the_group() {
        let mut membership = stable(0);
        membership.on_poll(1_000);
        assert_eq!(
            membership.heartbeat_action(11_001),
            HeartbeatAction::LeaveForPollTimeout
        );
    }

    #[test]
    fn rebalance_in_progress_asks_for_a_rejoin_and_keeps_the_identity() {
        let mut membership = stable(0);
        membership.on_heartbeat_response(3, ErrorCode::RebalanceInProgress);
        assert!(membership.needs_rejoin());
        assert_eq!(
            (membership.member_id.as_str(), membership.generation),
            ("m-1", 3)
        );
    }

    #[test]
    fn unknown_member_id_forgets_the_identity() {
        let mut membership = stable(0);
        membership.on_heartbeat_response(3, ErrorCode::UnknownMemberId);
        assert_eq!(
            (membership.member_id.as_str(), membership.generation),
            ("", NO_GENERATION)
        );
    }

    #[test]
    fn answers_for_an_old_generation_are_ignored() {
        let mut membership = stable(0);
        membership.on_heartbeat_response(2, ErrorCode::UnknownMemberId);
        assert!(!membership.needs_rejoin());
    }

    #[test]
    fn fenced_instance_id_is_remembered() {
        let mut membership = stable(0);
        membership.on_heartbeat_response(3, ErrorCode::FencedInstanceId);
        assert!(membership.fenced);
    }
}
