//! SyncGroup: assignments, waiting for the leader and for durability.

use bytes::Bytes;
use sluice_protocol::ErrorCode;

use super::GroupState;
use super::messages::JoinGroupInput;
use super::testing::{
    GROUP, Harness, join_input, join_reply, reply, subscription, sync_input, sync_reply,
};

fn state(h: &Harness) -> GroupState {
    h.coordinator
        .group(GROUP)
        .map_or(GroupState::Dead, |g| g.state())
}

/// Two KIP-394 members joined into generation 1, CompletingRebalance;
/// returns (leader, follower).
fn two_members_completing(h: &mut Harness) -> (String, String) {
    let (a, responses) = h.join(join_input(""));
    let first = join_reply(&responses, a).member_id;
    let (b, responses) = h.join(join_input(""));
    let second = join_reply(&responses, b).member_id;
    h.join(join_input(&first));
    let (token, responses) = h.join(join_input(&second));
    let out = join_reply(&responses, token);
    assert_eq!(out.generation_id, 1);
    let follower = if out.leader == first { second } else { first };
    (out.leader, follower)
}

#[test]
fn follower_syncing_before_the_leader_waits_and_gets_its_assignment() {
    let mut h = Harness::new();
    let (leader, follower) = two_members_completing(&mut h);
    let (follower_token, responses) = h.sync(sync_input(&follower, 1, Vec::new()));
    assert!(reply(&responses, follower_token).is_none());
    let assignments = vec![
        (follower.clone(), Bytes::from_static(b"f")),
        (leader.clone(), Bytes::from_static(b"l")),
    ];
    let (leader_token, responses) = h.sync(sync_input(&leader, 1, assignments));
    assert_eq!(
        sync_reply(&responses, follower_token).assignment,
        Bytes::from_static(b"f")
    );
    assert_eq!(
        sync_reply(&responses, leader_token).assignment,
        Bytes::from_static(b"l")
    );
    assert_eq!(state(&h), GroupState::Stable);
}

#[test]
fn members_missing_from_the_leaders_assignment_get_an_empty_one() {
    let mut h = Harness::new();
    let (leader, follower) = two_members_completing(&mut h);
    h.sync(sync_input(
        &leader,
        1,
        vec![(leader.clone(), Bytes::from_static(b"l"))],
    ));
    let (token, responses) = h.sync(sync_input(&follower, 1, Vec::new()));
    let out = sync_reply(&responses, token);
    assert_eq!((out.error, out.assignment), (ErrorCode::None, Bytes::new()));
}

#[test]
fn the_stored_assignment_record_holds_every_member() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(2);
    let record = h.log.last().expect("the assignment was stored");
    let value =
        super::records::decode_group_value(record.value.as_deref().expect("not a tombstone"))
            .expect("decodes");
    assert_eq!(value.generation, generation);
    assert_eq!(value.leader.as_deref(), Some(ids[0].as_str()));
    assert_eq!(value.protocol.as_deref(), Some("range"));
    let stored: Vec<_> = value
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.clone(),
                m.assignment.clone(),
                m.subscription.clone(),
            )
        })
        .collect();
    let expected: Vec<_> = ids
        .iter()
        .map(|id| {
            (
                id.clone(),
                Bytes::from(format!("assign-{id}")),
                subscription(&["t"]),
            )
        })
        .collect();
    assert_eq!(stored, expected);
}

#[test]
fn sync_replies_wait_until_the_assignment_is_durable() {
    let mut h = Harness::new();
    let (token, responses) = h.join_new();
    let generation = join_reply(&responses, token).generation_id;
    h.auto_persist = false;
    let (sync, responses) = h.sync(sync_input(
        "client-1",
        generation,
        vec![("client-1".into(), Bytes::from_static(b"a"))],
    ));
    assert!(reply(&responses, sync).is_none());
    let persist = h.unacked.pop().expect("the assignment is persisted");
    let outcome = h.coordinator.persisted(persist.id, Ok(()), h.now_ms);
    assert_eq!(
        sync_reply(&outcome.responses, sync).assignment,
        Bytes::from_static(b"a")
    );
}

#[test]
fn failed_assignment_append_answers_with_the_error_and_rebalances() {
    let mut h = Harness::new();
    let (token, responses) = h.join_new();
    let generation = join_reply(&responses, token).generation_id;
    h.auto_persist = false;
    let (sync, _) = h.sync(sync_input("client-1", generation, Vec::new()));
    let persist = h.unacked.pop().expect("the assignment is persisted");
    let outcome = h
        .coordinator
        .persisted(persist.id, Err(ErrorCode::NotCoordinator), h.now_ms);
    assert_eq!(
        sync_reply(&outcome.responses, sync).error,
        ErrorCode::NotCoordinator
    );
    assert_eq!(state(&h), GroupState::PreparingRebalance);
}

#[test]
fn sync_with_a_stale_generation_is_illegal() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(1);
    let (token, responses) = h.sync(sync_input(&ids[0], generation - 1, Vec::new()));
    assert_eq!(
        sync_reply(&responses, token).error,
        ErrorCode::IllegalGeneration
    );
}

#[test]
fn sync_from_an_unknown_member_or_group_is_unknown_member() {
    let mut h = Harness::new();
    let (_, generation) = h.stable_group(1);
    let (token, responses) = h.sync(sync_input("ghost", generation, Vec::new()));
    assert_eq!(
        sync_reply(&responses, token).error,
        ErrorCode::UnknownMemberId
    );
    let (token, responses) = h.sync(super::messages::SyncGroupInput {
        group_id: "other".into(),
        ..sync_input("x", 1, Vec::new())
    });
    assert_eq!(
        sync_reply(&responses, token).error,
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn sync_naming_another_protocol_is_inconsistent() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(1);
    let input = super::messages::SyncGroupInput {
        protocol_name: Some("roundrobin".into()),
        ..sync_input(&ids[0], generation, Vec::new())
    };
    let (token, responses) = h.sync(input);
    assert_eq!(
        sync_reply(&responses, token).error,
        ErrorCode::InconsistentGroupProtocol
    );
}

#[test]
fn sync_during_a_rebalance_is_rebalance_in_progress() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(1);
    h.join_new();
    let (token, responses) = h.sync(sync_input(&ids[0], generation, Vec::new()));
    assert_eq!(
        sync_reply(&responses, token).error,
        ErrorCode::RebalanceInProgress
    );
}

#[test]
fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(2);
    let long_session = |id: &str| JoinGroupInput {
        session_timeout_ms: 60_000,
        ..join_input(id)
    };
    h.join(long_session(&ids[0]));
    let (token, responses) = h.join(long_session(&ids[1]));
    assert_eq!(join_reply(&responses, token).generation_id, generation + 1);
    h.sync(sync_input(&ids[0], generation + 1, Vec::new()));
    h.advance(30_000);
    assert_eq!(state(&h), GroupState::PreparingRebalance);
    let members = h
        .coordinator
        .group(GROUP)
        .map(|g| g.members().keys().cloned().collect::<Vec<_>>());
    assert_eq!(members, Some(vec![ids[0].clone()]));
}

#[test]
fn member_leaving_while_completing_sends_parked_syncs_back_to_rejoin() {
    let mut h = Harness::new();
    let (_, follower) = two_members_completing(&mut h);
    let (parked, _) = h.sync(sync_input(&follower, 1, Vec::new()));
    let leader = h
        .coordinator
        .group(GROUP)
        .and_then(|g| g.leader_id().map(str::to_owned));
    let responses = h.leave(&leader.expect("a leader"));
    assert_eq!(
        sync_reply(&responses, parked).error,
        ErrorCode::RebalanceInProgress
    );
    assert_eq!(state(&h), GroupState::PreparingRebalance);
}
