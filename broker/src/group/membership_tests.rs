//! Every JoinGroup/SyncGroup/Heartbeat/LeaveGroup transition and error.

use sluice_protocol::ErrorCode;

use super::messages::{JoinGroupInput, LeaveGroupInput, LeavingMember};
use super::testing::{GROUP, Harness, join_input, join_reply, reply, subscription};
use super::{GroupConfig, GroupState, JoinProtocol, Reply};

fn state(h: &Harness) -> GroupState {
    h.coordinator
        .group(GROUP)
        .map_or(GroupState::Dead, |g| g.state())
}

#[test]
fn v4_join_without_member_id_gets_member_id_required_with_an_id() {
    let mut h = Harness::new();
    let (token, responses) = h.join(JoinGroupInput {
        api_version: 4,
        ..join_input("")
    });
    let out = join_reply(&responses, token);
    assert_eq!(out.error, ErrorCode::MemberIdRequired);
    assert_eq!(out.member_id, "client-1");
    assert!(
        h.coordinator
            .group(GROUP)
            .is_some_and(|g| g.members().is_empty())
    );
}

#[test]
fn rejoin_with_the_required_member_id_completes_the_join_as_leader() {
    let mut h = Harness::new();
    let (_, _) = h.join(join_input(""));
    let (token, responses) = h.join(join_input("client-1"));
    let out = join_reply(&responses, token);
    assert_eq!(out.error, ErrorCode::None);
    assert_eq!(out.generation_id, 1);
    assert_eq!(out.leader, "client-1");
    assert_eq!(out.protocol_name.as_deref(), Some("range"));
    assert_eq!(out.members.len(), 1);
    assert_eq!(state(&h), GroupState::CompletingRebalance);
}

#[test]
fn v3_join_without_member_id_is_assigned_an_id_immediately() {
    let mut h = Harness::new();
    let (token, responses) = h.join_new();
    assert_eq!(join_reply(&responses, token).member_id, "client-1");
    assert_eq!(join_reply(&responses, token).error, ErrorCode::None);
}

#[test]
fn join_with_a_member_id_to_an_unknown_group_is_unknown_member() {
    let mut h = Harness::new();
    let (token, responses) = h.join(join_input("ghost"));
    assert_eq!(
        join_reply(&responses, token).error,
        ErrorCode::UnknownMemberId
    );
    assert!(h.coordinator.group(GROUP).is_none());
}

#[test]
fn session_timeout_outside_the_bounds_is_rejected() {
    let mut h = Harness::new();
    for session_timeout_ms in [5_999, 1_800_001] {
        let (token, responses) = h.join(JoinGroupInput {
            session_timeout_ms,
            ..join_input("")
        });
        assert_eq!(
            join_reply(&responses, token).error,
            ErrorCode::InvalidSessionTimeout
        );
    }
}

#[test]
fn empty_group_id_is_invalid() {
    let mut h = Harness::new();
    let (token, responses) = h.join(JoinGroupInput {
        group_id: String::new(),
        ..join_input("")
    });
    assert_eq!(
        join_reply(&responses, token).error,
        ErrorCode::InvalidGroupId
    );
}

#[test]
fn first_member_without_protocol_type_is_inconsistent_and_leaves_no_group() {
    let mut h = Harness::new();
    let (token, responses) = h.join(JoinGroupInput {
        protocol_type: String::new(),
        ..join_input("")
    });
    assert_eq!(
        join_reply(&responses, token).error,
        ErrorCode::InconsistentGroupProtocol
    );
    assert!(h.coordinator.group(GROUP).is_none());
}

#[test]
fn member_with_another_protocol_type_is_inconsistent() {
    let mut h = Harness::new();
    h.stable_group(1);
    let (token, responses) = h.join(JoinGroupInput {
        api_version: 3,
        protocol_type: "connect".into(),
        ..join_input("")
    });
    assert_eq!(
        join_reply(&responses, token).error,
        ErrorCode::InconsistentGroupProtocol
    );
}

#[test]
fn member_without_a_common_protocol_is_inconsistent() {
    let mut h = Harness::new();
    h.stable_group(1);
    let protocols = vec![JoinProtocol {
        name: "roundrobin".into(),
        metadata: subscription(&["t"]),
    }];
    let (token, responses) = h.join(JoinGroupInput {
        api_version: 3,
        protocols,
        ..join_input("")
    });
    assert_eq!(
        join_reply(&responses, token).error,
        ErrorCode::InconsistentGroupProtocol
    );
}

#[test]
fn initial_rebalance_delay_holds_the_first_join_until_it_expires() {
    let mut h = Harness::with_config(GroupConfig::default());
    let (token, responses) = h.join_new();
    assert!(reply(&responses, token).is_none());
    assert!(reply(&h.advance(2_999), token).is_none());
    assert_eq!(join_reply(&h.advance(1), token).error, ErrorCode::None);
}

#[test]
fn member_joining_during_initial_delay_extends_it_and_both_join_one_generation() {
    let mut h = Harness::with_config(GroupConfig::default());
    let (first, _) = h.join_new();
    h.advance(2_000);
    let (second, _) = h.join_new();
    assert!(
        h.advance(1_500).is_empty(),
        "the delay restarts when a member arrives"
    );
    let responses = h.advance(1_500);
    assert_eq!(join_reply(&responses, first).generation_id, 1);
    assert_eq!(join_reply(&responses, second).generation_id, 1);
}

#[test]
fn new_member_triggers_a_rebalance_and_the_old_member_is_told_by_heartbeat() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(1);
    let (newcomer, responses) = h.join_new();
    assert!(reply(&responses, newcomer).is_none());
    assert_eq!(state(&h), GroupState::PreparingRebalance);
    assert_eq!(
        h.heartbeat(&ids[0], generation),
        ErrorCode::RebalanceInProgress
    );
    let (old, responses) = h.join(join_input(&ids[0]));
    assert_eq!(join_reply(&responses, old).generation_id, generation + 1);
    assert_eq!(
        join_reply(&responses, newcomer).generation_id,
        generation + 1
    );
}

#[test]
fn only_the_leader_receives_the_members_metadata() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group(1);
    let (newcomer, _) = h.join_new();
    let (old, responses) = h.join(join_input(&ids[0]));
    let leader = join_reply(&responses, old);
    assert_eq!(leader.leader, ids[0]);
    assert_eq!(leader.members.len(), 2);
    assert_eq!(leader.members[0].metadata, subscription(&["t"]));
    assert!(join_reply(&responses, newcomer).members.is_empty());
}

#[test]
fn rebalance_timeout_removes_members_that_did_not_rejoin() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(2);
    let (rejoin, _) = h.join(join_input(&ids[0]));
    h.heartbeat(&ids[1], generation);
    let responses = h.advance(30_000);
    let out = join_reply(&responses, rejoin);
    assert_eq!(out.generation_id, generation + 1);
    assert_eq!(out.members.len(), 1);
    assert!(
        !h.coordinator
            .group(GROUP)
            .is_some_and(|g| g.members().contains_key(&ids[1]))
    );
}

#[test]
fn heartbeat_outcomes_follow_member_generation_and_state() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(1);
    assert_eq!(h.heartbeat(&ids[0], generation), ErrorCode::None);
    assert_eq!(
        h.heartbeat(&ids[0], generation + 1),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(h.heartbeat("ghost", generation), ErrorCode::UnknownMemberId);
    let token = h.token();
    let input = super::messages::HeartbeatInput {
        group_id: "none".into(),
        generation_id: 1,
        member_id: "m".into(),
        group_instance_id: None,
    };
    let outcome = h.coordinator.heartbeat(token, input, h.now_ms);
    assert_eq!(
        outcome.response_for(token),
        Some(&Reply::Heartbeat(ErrorCode::UnknownMemberId))
    );
}

#[test]
fn heartbeat_while_completing_rebalance_is_accepted() {
    let mut h = Harness::new();
    let (token, responses) = h.join_new();
    let out = join_reply(&responses, token);
    assert_eq!(state(&h), GroupState::CompletingRebalance);
    assert_eq!(
        h.heartbeat(&out.member_id, out.generation_id),
        ErrorCode::None
    );
}

#[test]
fn session_expiry_removes_the_member_and_rebalances() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(2);
    h.advance(9_000);
    h.heartbeat(&ids[0], generation);
    h.advance(1_000);
    assert_eq!(state(&h), GroupState::PreparingRebalance);
    assert!(
        !h.coordinator
            .group(GROUP)
            .is_some_and(|g| g.members().contains_key(&ids[1]))
    );
}

#[test]
fn last_member_expiring_empties_the_group_and_persists_it() {
    let mut h = Harness::new();
    let (_, generation) = h.stable_group(1);
    let logged = h.log.len();
    h.advance(10_000);
    let group = h.coordinator.group(GROUP).expect("empty groups remain");
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.generation_id(), generation + 1);
    assert_eq!(h.log.len(), logged + 1);
}

#[test]
fn leaving_member_triggers_a_rebalance() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group(2);
    h.leave(&ids[1]);
    assert_eq!(state(&h), GroupState::PreparingRebalance);
}

#[test]
fn leader_leaving_hands_leadership_to_the_earliest_remaining_member() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group(3);
    h.leave(&ids[0]);
    assert_eq!(
        h.coordinator.group(GROUP).and_then(|g| g.leader_id()),
        Some(ids[1].as_str())
    );
}

#[test]
fn leave_of_unknown_member_or_group_is_unknown_member() {
    let mut h = Harness::new();
    h.stable_group(1);
    for group_id in [GROUP, "nowhere"] {
        let token = h.token();
        let input = LeaveGroupInput {
            group_id: group_id.into(),
            members: vec![LeavingMember {
                member_id: "ghost".into(),
                group_instance_id: None,
            }],
        };
        let outcome = h.coordinator.leave_group(token, input, h.now_ms);
        match outcome.response_for(token) {
            Some(Reply::LeaveGroup(out)) => {
                assert_eq!(out.members[0].error, ErrorCode::UnknownMemberId)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn pending_member_that_never_rejoins_expires() {
    let mut h = Harness::new();
    h.join(join_input(""));
    h.advance(10_000);
    let (token, responses) = h.join(join_input("client-1"));
    assert_eq!(
        join_reply(&responses, token).error,
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn join_beyond_group_max_size_is_refused() {
    let mut h = Harness::with_config(GroupConfig {
        group_max_size: 1,
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    });
    h.stable_group(1);
    let (token, responses) = h.join_new();
    assert_eq!(
        join_reply(&responses, token).error,
        ErrorCode::GroupMaxSizeReached
    );
}

#[test]
fn known_member_rejoining_while_completing_with_same_metadata_gets_the_current_generation() {
    let mut h = Harness::new();
    let (token, responses) = h.join_new();
    let first = join_reply(&responses, token);
    let (again, responses) = h.join(join_input(&first.member_id));
    let out = join_reply(&responses, again);
    assert_eq!(out.generation_id, first.generation_id);
    assert_eq!(state(&h), GroupState::CompletingRebalance);
}

#[test]
fn protocol_is_chosen_by_the_members_votes() {
    let mut h = Harness::new();
    let both = |first: &str, second: &str| {
        vec![
            JoinProtocol {
                name: first.into(),
                metadata: subscription(&["t"]),
            },
            JoinProtocol {
                name: second.into(),
                metadata: subscription(&["t"]),
            },
        ]
    };
    let (a, _) = h.join(JoinGroupInput {
        api_version: 3,
        protocols: both("range", "roundrobin"),
        ..join_input("")
    });
    let (b, _) = h.join(JoinGroupInput {
        api_version: 3,
        protocols: both("roundrobin", "range"),
        ..join_input("")
    });
    let (c, _) = h.join(JoinGroupInput {
        api_version: 3,
        protocols: both("roundrobin", "range"),
        ..join_input("")
    });
    let (_, responses) = h.join(JoinGroupInput {
        protocols: both("range", "roundrobin"),
        ..join_input("client-1")
    });
    let _ = (a, b);
    assert_eq!(
        join_reply(&responses, c).protocol_name.as_deref(),
        Some("roundrobin")
    );
}

#[test]
fn v3_leave_removes_a_batch_of_members_at_once() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group(3);
    let token = h.token();
    let members = ids[1..]
        .iter()
        .map(|id| LeavingMember {
            member_id: id.clone(),
            group_instance_id: None,
        })
        .collect();
    let outcome = h.coordinator.leave_group(
        token,
        LeaveGroupInput {
            group_id: GROUP.into(),
            members,
        },
        h.now_ms,
    );
    match outcome.response_for(token) {
        Some(Reply::LeaveGroup(out)) => {
            assert!(out.members.iter().all(|m| m.error == ErrorCode::None))
        }
        other => panic!("unexpected {other:?}"),
    }
    let remaining: Vec<String> = h
        .coordinator
        .group(GROUP)
        .map(|g| g.members().keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(remaining, vec![ids[0].clone()]);
}

#[test]
fn leaving_while_parked_in_join_answers_the_join_with_unknown_member() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group(2);
    let (parked, _) = h.join(join_input(&ids[0]));
    let responses = h.leave(&ids[0]);
    assert_eq!(
        join_reply(&responses, parked).error,
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn stable_leader_rejoining_triggers_a_rebalance_but_a_follower_does_not() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(2);
    let (token, responses) = h.join(join_input(&ids[1]));
    assert_eq!(join_reply(&responses, token).generation_id, generation);
    assert_eq!(state(&h), GroupState::Stable);
    h.join(join_input(&ids[0]));
    assert_eq!(state(&h), GroupState::PreparingRebalance);
}
