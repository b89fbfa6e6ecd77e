//! OffsetCommit, OffsetFetch, OffsetDelete, retention, admin APIs and replay.

use sluice_protocol::ErrorCode;

use super::admin_tests::delete_groups;
use super::messages::{
    CommitPartition, OffsetCommitInput, OffsetDeleteInput, OffsetFetchInput, OffsetFetchOutput,
    PartitionResult, TopicPartition,
};
use super::testing::{GROUP, Harness};
use super::{GroupConfig, GroupCoordinator, GroupState, Reply};

pub(crate) fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition {
        topic: topic.into(),
        partition,
    }
}

pub(crate) fn commit_input(
    generation_id: i32,
    member_id: &str,
    partitions: &[(TopicPartition, i64)],
) -> OffsetCommitInput {
    OffsetCommitInput {
        group_id: GROUP.into(),
        generation_id,
        member_id: member_id.into(),
        group_instance_id: None,
        partitions: partitions
            .iter()
            .map(|(partition, offset)| CommitPartition {
                partition: partition.clone(),
                offset: *offset,
                leader_epoch: 3,
                metadata: Some("m".into()),
            })
            .collect(),
    }
}

pub(crate) fn commit(h: &mut Harness, input: OffsetCommitInput) -> Vec<PartitionResult> {
    let token = h.token();
    let outcome = h.coordinator.offset_commit(token, input, h.now_ms);
    let responses = h.settle(outcome);
    match super::testing::reply(&responses, token) {
        Some(Reply::OffsetCommit(out)) => out.partitions.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

pub(crate) fn fetch(h: &mut Harness, partitions: Option<Vec<TopicPartition>>) -> OffsetFetchOutput {
    let token = h.token();
    let outcome = h.coordinator.offset_fetch(
        token,
        OffsetFetchInput {
            group_id: GROUP.into(),
            partitions,
        },
    );
    match outcome.response_for(token) {
        Some(Reply::OffsetFetch(out)) => out.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

fn errors(results: &[PartitionResult]) -> Vec<ErrorCode> {
    results.iter().map(|r| r.error).collect()
}

#[test]
fn member_commit_is_acknowledged_only_once_durable() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(1);
    h.auto_persist = false;
    let token = h.token();
    let outcome = h.coordinator.offset_commit(
        token,
        commit_input(generation, &ids[0], &[(tp("t", 0), 42)]),
        h.now_ms,
    );
    assert!(outcome.response_for(token).is_none());
    assert_eq!(
        fetch(&mut h, Some(vec![tp("t", 0)])).partitions[0].offset,
        -1
    );
    let persist = &outcome.persists[0];
    assert_eq!(persist.partition, h.coordinator.partition_for(GROUP));
    let done = h.coordinator.persisted(persist.id, Ok(()), h.now_ms);
    assert!(
        matches!(done.response_for(token), Some(Reply::OffsetCommit(out)) if out.partitions[0].error == ErrorCode::None)
    );
    let fetched = fetch(&mut h, Some(vec![tp("t", 0)]));
    assert_eq!(
        (
            fetched.partitions[0].offset,
            fetched.partitions[0].leader_epoch
        ),
        (42, 3)
    );
    assert_eq!(fetched.partitions[0].metadata, "m");
}

#[test]
fn failed_commit_append_reports_the_error_and_keeps_nothing() {
    let mut h = Harness::new();
    h.auto_persist = false;
    let token = h.token();
    let outcome =
        h.coordinator
            .offset_commit(token, commit_input(-1, "", &[(tp("t", 0), 1)]), h.now_ms);
    let done = h.coordinator.persisted(
        outcome.persists[0].id,
        Err(ErrorCode::NotCoordinator),
        h.now_ms,
    );
    assert!(
        matches!(done.response_for(token), Some(Reply::OffsetCommit(out)) if out.partitions[0].error == ErrorCode::NotCoordinator)
    );
    assert_eq!(fetch(&mut h, None).partitions.len(), 0);
}

#[test]
fn simple_commit_to_an_unknown_group_creates_an_empty_group() {
    let mut h = Harness::new();
    assert_eq!(
        errors(&commit(&mut h, commit_input(-1, "", &[(tp("t", 0), 1)]))),
        vec![ErrorCode::None]
    );
    assert_eq!(
        h.coordinator.group(GROUP).map(|g| g.state()),
        Some(GroupState::Empty)
    );
}

#[test]
fn generation_commit_to_an_unknown_group_is_illegal_generation() {
    let mut h = Harness::new();
    assert_eq!(
        errors(&commit(&mut h, commit_input(1, "m", &[(tp("t", 0), 1)]))),
        vec![ErrorCode::IllegalGeneration]
    );
}

#[test]
fn admin_commit_to_a_group_with_members_is_unknown_member() {
    let mut h = Harness::new();
    h.stable_group(1);
    assert_eq!(
        errors(&commit(&mut h, commit_input(-1, "", &[(tp("t", 0), 1)]))),
        vec![ErrorCode::UnknownMemberId]
    );
}

#[test]
fn commit_checks_generation_and_member() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(1);
    assert_eq!(
        errors(&commit(
            &mut h,
            commit_input(generation + 1, &ids[0], &[(tp("t", 0), 1)])
        )),
        vec![ErrorCode::IllegalGeneration]
    );
    assert_eq!(
        errors(&commit(
            &mut h,
            commit_input(generation, "ghost", &[(tp("t", 0), 1)])
        )),
        vec![ErrorCode::UnknownMemberId]
    );
}

#[test]
fn commit_while_completing_rebalance_is_rebalance_in_progress() {
    let mut h = Harness::new();
    let (token, responses) = h.join_new();
    let out = super::testing::join_reply(&responses, token);
    let results = commit(
        &mut h,
        commit_input(out.generation_id, &out.member_id, &[(tp("t", 0), 1)]),
    );
    assert_eq!(errors(&results), vec![ErrorCode::RebalanceInProgress]);
}

#[test]
fn oversized_commit_metadata_is_rejected_per_partition() {
    let mut h = Harness::new();
    let mut input = commit_input(-1, "", &[(tp("t", 0), 1), (tp("t", 1), 1)]);
    input.partitions[1].metadata = Some("x".repeat(4097));
    assert_eq!(
        errors(&commit(&mut h, input)),
        vec![ErrorCode::None, ErrorCode::OffsetMetadataTooLarge]
    );
}

#[test]
fn fetch_without_topics_returns_every_committed_partition() {
    let mut h = Harness::new();
    commit(
        &mut h,
        commit_input(-1, "", &[(tp("b", 0), 2), (tp("a", 1), 1)]),
    );
    let all = fetch(&mut h, None);
    let got: Vec<_> = all
        .partitions
        .iter()
        .map(|p| (p.partition.clone(), p.offset))
        .collect();
    assert_eq!(got, vec![(tp("a", 1), 1), (tp("b", 0), 2)]);
}

#[test]
fn fetch_of_an_uncommitted_partition_is_minus_one() {
    let mut h = Harness::new();
    let out = fetch(&mut h, Some(vec![tp("t", 9)]));
    assert_eq!(
        (out.partitions[0].offset, out.partitions[0].error),
        (-1, ErrorCode::None)
    );
}

fn delete_offsets(
    h: &mut Harness,
    group_id: &str,
    partitions: Vec<TopicPartition>,
) -> (ErrorCode, Vec<ErrorCode>) {
    let token = h.token();
    let outcome = h.coordinator.offset_delete(
        token,
        OffsetDeleteInput {
            group_id: group_id.into(),
            partitions,
        },
    );
    let responses = h.settle(outcome);
    match super::testing::reply(&responses, token) {
        Some(Reply::OffsetDelete(out)) => (out.error, errors(&out.partitions)),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn offset_delete_of_an_unknown_group_is_group_id_not_found() {
    let mut h = Harness::new();
    assert_eq!(
        delete_offsets(&mut h, "nope", vec![tp("t", 0)]).0,
        ErrorCode::GroupIdNotFound
    );
}

#[test]
fn offset_delete_refuses_subscribed_topics_and_deletes_others() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(1);
    commit(
        &mut h,
        commit_input(generation, &ids[0], &[(tp("t", 0), 1), (tp("old", 0), 1)]),
    );
    let (error, per_partition) = delete_offsets(&mut h, GROUP, vec![tp("t", 0), tp("old", 0)]);
    assert_eq!(error, ErrorCode::None);
    assert_eq!(
        per_partition,
        vec![ErrorCode::GroupSubscribedToTopic, ErrorCode::None]
    );
    let fetched = fetch(&mut h, None);
    assert_eq!(
        fetched
            .partitions
            .iter()
            .map(|p| p.partition.clone())
            .collect::<Vec<_>>(),
        vec![tp("t", 0)]
    );
}

#[test]
fn offset_delete_of_an_empty_group_deletes_with_tombstones() {
    let mut h = Harness::new();
    commit(&mut h, commit_input(-1, "", &[(tp("t", 0), 1)]));
    let logged = h.log.len();
    assert_eq!(
        delete_offsets(&mut h, GROUP, vec![tp("t", 0)]),
        (ErrorCode::None, vec![ErrorCode::None])
    );
    assert_eq!(h.log.len(), logged + 1);
    assert!(h.log.last().is_some_and(|r| r.value.is_none()));
}

#[test]
fn offsets_of_an_empty_consumer_group_expire_after_retention_and_the_group_goes() {
    let config = GroupConfig {
        group_initial_rebalance_delay_ms: 0,
        offsets_retention_ms: 100_000,
        offsets_retention_check_interval_ms: 1_000,
        ..GroupConfig::default()
    };
    let mut h = Harness::with_config(config);
    let (ids, generation) = h.stable_group(1);
    commit(
        &mut h,
        commit_input(generation, &ids[0], &[(tp("t", 0), 1)]),
    );
    h.leave(&ids[0]);
    h.advance(99_000);
    assert_eq!(
        fetch(&mut h, None).partitions.len(),
        1,
        "retention starts when the group empties"
    );
    h.advance(1_000);
    assert_eq!(fetch(&mut h, None).partitions.len(), 0);
    assert!(h.coordinator.group(GROUP).is_none());
}

#[test]
fn offsets_of_a_stable_group_do_not_expire() {
    let config = GroupConfig {
        group_initial_rebalance_delay_ms: 0,
        offsets_retention_ms: 1_000,
        offsets_retention_check_interval_ms: 1_000,
        ..GroupConfig::default()
    };
    let mut h = Harness::with_config(config);
    let (ids, generation) = h.stable_group(1);
    commit(
        &mut h,
        commit_input(generation, &ids[0], &[(tp("t", 0), 1)]),
    );
    for _ in 0..5 {
        h.advance(1_000);
        h.heartbeat(&ids[0], generation);
    }
    assert_eq!(fetch(&mut h, None).partitions.len(), 1);
}

/// Replay `h`'s log into a fresh coordinator.
fn replay(h: &Harness) -> GroupCoordinator {
    let mut loaded = GroupCoordinator::new(h.coordinator.config().clone());
    for record in &h.log {
        loaded
            .load_record(&record.key, record.value.as_deref(), h.now_ms)
            .expect("our own records decode");
    }
    loaded.finish_loading(h.now_ms);
    loaded
}

#[test]
fn replaying_the_log_rebuilds_offsets_and_groups() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(2);
    commit(
        &mut h,
        commit_input(generation, &ids[0], &[(tp("t", 0), 10), (tp("t", 1), 11)]),
    );
    commit(
        &mut h,
        commit_input(generation, &ids[1], &[(tp("t", 0), 12)]),
    );
    let loaded = replay(&h);
    assert_eq!(loaded.offsets(), h.coordinator.offsets());
    let (original, rebuilt) = (
        h.coordinator.group(GROUP).expect("g"),
        loaded.group(GROUP).expect("g"),
    );
    assert_eq!(rebuilt.state(), GroupState::Stable);
    assert_eq!(rebuilt.generation_id(), original.generation_id());
    assert_eq!(rebuilt.leader_id(), original.leader_id());
    assert_eq!(rebuilt.protocol_name(), original.protocol_name());
    let assignments = |g: &super::Group| {
        g.members()
            .values()
            .map(|m| (m.member_id.clone(), m.assignment.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(assignments(rebuilt), assignments(original));
}

#[test]
fn replay_applies_tombstones() {
    let mut h = Harness::new();
    commit(&mut h, commit_input(-1, "", &[(tp("t", 0), 1)]));
    delete_groups(&mut h, &[GROUP]);
    let loaded = replay(&h);
    assert!(loaded.group(GROUP).is_none());
    assert!(!loaded.offsets().has_offsets(GROUP));
}

#[test]
fn offsets_outside_group_management_expire_by_commit_time() {
    let config = GroupConfig {
        offsets_retention_ms: 100_000,
        offsets_retention_check_interval_ms: 1_000,
        ..GroupConfig::default()
    };
    let mut h = Harness::with_config(config);
    commit(&mut h, commit_input(-1, "", &[(tp("t", 0), 1)]));
    h.advance(50_000);
    commit(&mut h, commit_input(-1, "", &[(tp("t", 1), 1)]));
    h.advance(50_000);
    let left: Vec<_> = fetch(&mut h, None)
        .partitions
        .into_iter()
        .map(|p| p.partition)
        .collect();
    assert_eq!(left, vec![tp("t", 1)]);
}

#[test]
fn loading_skips_records_of_unknown_types() {
    let mut loaded = GroupCoordinator::new(GroupConfig::default());
    assert_eq!(
        loaded.load_record(&[0, 4, 0, 1, b'g'], Some(&[0, 0]), 0),
        Ok(())
    );
    assert!(loaded.groups().is_empty());
}

#[test]
fn loading_rejects_corrupt_values() {
    let mut loaded = GroupCoordinator::new(GroupConfig::default());
    let key = super::records::group_key(GROUP);
    assert!(loaded.load_record(&key, Some(&[0, 3, 0]), 0).is_err());
}

#[test]
fn loaded_groups_known_only_by_offsets_are_empty_groups() {
    let mut h = Harness::new();
    commit(&mut h, commit_input(-1, "", &[(tp("t", 0), 1)]));
    let loaded = replay(&h);
    assert_eq!(
        loaded.group(GROUP).map(|g| g.state()),
        Some(GroupState::Empty)
    );
}

#[test]
fn loaded_members_must_heartbeat_within_their_session() {
    let mut h = Harness::new();
    let (_, generation) = h.stable_group(1);
    let mut loaded = replay(&h);
    let outcome = loaded.tick(h.now_ms + 10_000);
    assert_eq!(outcome.persists.len(), 1, "the emptied group is stored");
    let group = loaded.group(GROUP).expect("group");
    assert_eq!(
        (group.state(), group.generation_id()),
        (GroupState::Empty, generation + 1)
    );
}

#[test]
fn offset_delete_of_a_non_consumer_group_with_members_is_non_empty_group() {
    let mut h = Harness::new();
    let input = super::messages::JoinGroupInput {
        api_version: 3,
        protocol_type: "connect".into(),
        ..super::testing::join_input("")
    };
    h.join(input);
    assert_eq!(
        delete_offsets(&mut h, GROUP, vec![tp("t", 0)]).0,
        ErrorCode::NonEmptyGroup
    );
}
