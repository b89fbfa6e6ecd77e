//! KIP-345 static membership.

use sluice_protocol::ErrorCode;

use super::messages::{HeartbeatInput, JoinGroupInput, LeaveGroupInput, LeavingMember};
use super::testing::{GROUP, Harness, join_input, join_reply, reply, sync_input};
use super::{GroupState, Reply};

fn static_input(member_id: &str, instance: &str) -> JoinGroupInput {
    JoinGroupInput {
        group_instance_id: Some(instance.to_owned()),
        ..join_input(member_id)
    }
}

/// One static member `instance` in a Stable group; returns its member id
/// and the generation.
fn stable_static_member(h: &mut Harness, instance: &str) -> (String, i32) {
    let (token, responses) = h.join(static_input("", instance));
    let out = join_reply(&responses, token);
    assert_eq!(
        out.error,
        ErrorCode::None,
        "static members skip MEMBER_ID_REQUIRED"
    );
    let assignment = vec![(out.member_id.clone(), bytes::Bytes::from_static(b"mine"))];
    h.sync(sync_input(&out.member_id, out.generation_id, assignment));
    (out.member_id, out.generation_id)
}

fn heartbeat_as(h: &mut Harness, member_id: &str, instance: &str, generation_id: i32) -> ErrorCode {
    let token = h.token();
    let input = HeartbeatInput {
        group_id: GROUP.into(),
        generation_id,
        member_id: member_id.into(),
        group_instance_id: Some(instance.into()),
    };
    let outcome = h.coordinator.heartbeat(token, input, h.now_ms);
    match outcome.response_for(token) {
        Some(Reply::Heartbeat(code)) => *code,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn static_member_ids_are_prefixed_with_the_instance_id() {
    let mut h = Harness::new();
    let (member_id, _) = stable_static_member(&mut h, "pod-a");
    assert!(member_id.starts_with("pod-a-"));
}

#[test]
fn static_rejoin_of_a_stable_group_replaces_the_member_without_rebalance() {
    let mut h = Harness::new();
    let (old_id, generation) = stable_static_member(&mut h, "pod-a");
    let (token, responses) = h.join(static_input("", "pod-a"));
    let out = join_reply(&responses, token);
    assert_eq!(out.error, ErrorCode::None);
    assert_ne!(out.member_id, old_id);
    assert_eq!(out.generation_id, generation);
    assert!(
        out.skip_assignment,
        "the static leader keeps the existing assignment"
    );
    let group = h.coordinator.group(GROUP).expect("group");
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(
        group.members()[&out.member_id].assignment,
        bytes::Bytes::from_static(b"mine")
    );
}

#[test]
fn replaced_static_member_id_is_fenced() {
    let mut h = Harness::new();
    let (old_id, generation) = stable_static_member(&mut h, "pod-a");
    h.join(static_input("", "pod-a"));
    assert_eq!(
        heartbeat_as(&mut h, &old_id, "pod-a", generation),
        ErrorCode::FencedInstanceId
    );
}

#[test]
fn static_rejoin_while_completing_rebalance_triggers_a_rebalance() {
    let mut h = Harness::new();
    let (token, responses) = h.join(static_input("", "pod-a"));
    assert_eq!(join_reply(&responses, token).error, ErrorCode::None);
    assert_eq!(
        h.coordinator.group(GROUP).map(|g| g.state()),
        Some(GroupState::CompletingRebalance)
    );
    let (token, responses) = h.join(static_input("", "pod-a"));
    let out = join_reply(&responses, token);
    assert_eq!(
        out.generation_id, 2,
        "the replacement joined a new generation"
    );
}

#[test]
fn static_member_leaves_by_instance_id() {
    let mut h = Harness::new();
    stable_static_member(&mut h, "pod-a");
    let token = h.token();
    let members = vec![LeavingMember {
        member_id: String::new(),
        group_instance_id: Some("pod-a".into()),
    }];
    let outcome = h.coordinator.leave_group(
        token,
        LeaveGroupInput {
            group_id: GROUP.into(),
            members,
        },
        h.now_ms,
    );
    match reply(&outcome.responses, token) {
        Some(Reply::LeaveGroup(out)) => assert_eq!(out.members[0].error, ErrorCode::None),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        h.coordinator
            .group(GROUP)
            .is_some_and(|g| g.members().is_empty())
    );
}

#[test]
fn leave_with_a_fenced_member_id_is_fenced() {
    let mut h = Harness::new();
    let (old_id, _) = stable_static_member(&mut h, "pod-a");
    h.join(static_input("", "pod-a"));
    let token = h.token();
    let members = vec![LeavingMember {
        member_id: old_id,
        group_instance_id: Some("pod-a".into()),
    }];
    let outcome = h.coordinator.leave_group(
        token,
        LeaveGroupInput {
            group_id: GROUP.into(),
            members,
        },
        h.now_ms,
    );
    match reply(&outcome.responses, token) {
        Some(Reply::LeaveGroup(out)) => {
            assert_eq!(out.members[0].error, ErrorCode::FencedInstanceId)
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn static_member_that_does_not_rejoin_survives_the_join_phase() {
    let mut h = Harness::new();
    let (static_id, _) = stable_static_member(&mut h, "pod-a");
    let (_, _) = h.join(JoinGroupInput {
        api_version: 3,
        ..join_input("")
    });
    for _ in 0..5 {
        h.advance(5_000);
        assert_eq!(
            heartbeat_as(&mut h, &static_id, "pod-a", 1),
            ErrorCode::RebalanceInProgress
        );
    }
    h.advance(5_000);
    let group = h.coordinator.group(GROUP).expect("group");
    assert_eq!(
        group.generation_id(),
        2,
        "the join phase completed without the static member"
    );
    assert!(
        group.members().contains_key(&static_id),
        "Kafka keeps static members until their session expires"
    );
}
