//! ListGroups, DescribeGroups, DeleteGroups and partition unloading.

use sluice_protocol::ErrorCode;

use super::messages::{ListGroupsInput, OffsetCommitInput};
use super::offsets_tests::{commit, commit_input, fetch, tp};
use super::testing::{GROUP, Harness};
use super::{GroupState, Reply};

fn listed(h: &Harness, states: &[&str]) -> Vec<String> {
    let input = ListGroupsInput {
        states_filter: states.iter().map(|s| s.to_string()).collect(),
        types_filter: Vec::new(),
    };
    match h
        .coordinator
        .list_groups(super::RequestToken(0), &input)
        .response_for(super::RequestToken(0))
    {
        Some(Reply::ListGroups(out)) => out.groups.iter().map(|g| g.group_id.clone()).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn list_groups_filters_by_state_case_insensitively() {
    let mut h = Harness::new();
    h.stable_group(1);
    assert_eq!(listed(&h, &[]), vec![GROUP.to_owned()]);
    assert_eq!(listed(&h, &["stable"]), vec![GROUP.to_owned()]);
    assert!(listed(&h, &["Empty"]).is_empty());
}

#[test]
fn describe_shows_metadata_and_assignment_only_when_stable() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group(1);
    let described = |h: &Harness| match h
        .coordinator
        .describe_groups(super::RequestToken(0), &[GROUP.into(), "none".into()])
        .responses
        .pop()
    {
        Some(super::Response {
            reply: Reply::DescribeGroups(groups),
            ..
        }) => groups,
        other => panic!("unexpected {other:?}"),
    };
    let groups = described(&h);
    assert_eq!(
        (groups[0].state.name(), groups[0].protocol.as_str()),
        ("Stable", "range")
    );
    assert_eq!(
        groups[0].members[0].assignment,
        bytes::Bytes::from(format!("assign-{}", ids[0]))
    );
    assert_eq!(groups[1].state, GroupState::Dead);
    h.join_new();
    let groups = described(&h);
    assert_eq!(groups[0].state.name(), "PreparingRebalance");
    assert!(
        groups[0]
            .members
            .iter()
            .all(|m| m.assignment.is_empty() && m.metadata.is_empty())
    );
}

pub(crate) fn delete_groups(h: &mut Harness, ids: &[&str]) -> Vec<ErrorCode> {
    let token = h.token();
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    let outcome = h.coordinator.delete_groups(token, &ids);
    let responses = h.settle(outcome);
    match super::testing::reply(&responses, token) {
        Some(Reply::DeleteGroups(out)) => out.iter().map(|g| g.error).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn delete_groups_removes_only_empty_groups() {
    let mut h = Harness::new();
    h.stable_group(1);
    assert_eq!(
        delete_groups(&mut h, &[GROUP, "none"]),
        vec![ErrorCode::NonEmptyGroup, ErrorCode::GroupIdNotFound]
    );
    let mut h = Harness::new();
    commit(&mut h, commit_input(-1, "", &[(tp("t", 0), 1)]));
    assert_eq!(delete_groups(&mut h, &[GROUP]), vec![ErrorCode::None]);
    assert!(h.coordinator.group(GROUP).is_none());
    assert_eq!(fetch(&mut h, None).partitions.len(), 0);
}

#[test]
fn delete_groups_answers_only_after_every_groups_tombstones_are_durable() {
    let mut h = Harness::new();
    for group_id in ["a", "b"] {
        let input = OffsetCommitInput {
            group_id: group_id.into(),
            ..commit_input(-1, "", &[(tp("t", 0), 1)])
        };
        commit(&mut h, input);
    }
    let token = h.token();
    let outcome = h
        .coordinator
        .delete_groups(token, &["a".into(), "b".into()]);
    assert!(outcome.response_for(token).is_none());
    let first = h
        .coordinator
        .persisted(outcome.persists[0].id, Ok(()), h.now_ms);
    assert!(first.response_for(token).is_none());
    let second = h.coordinator.persisted(
        outcome.persists[1].id,
        Err(ErrorCode::NotCoordinator),
        h.now_ms,
    );
    match second.response_for(token) {
        Some(Reply::DeleteGroups(groups)) => {
            assert!(groups.iter().all(|g| g.error == ErrorCode::NotCoordinator))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn unloading_a_partition_forgets_its_groups_and_releases_parked_joins() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(2);
    commit(
        &mut h,
        commit_input(generation, &ids[0], &[(tp("t", 0), 1)]),
    );
    let (parked, _) = h.join(super::testing::join_input(&ids[0]));
    assert!(h.coordinator.offsets().has_offsets(GROUP));
    let partition = h.coordinator.partition_for(GROUP);
    let outcome = h.coordinator.unload_partition(partition);
    assert!(
        matches!(outcome.response_for(parked), Some(Reply::JoinGroup(out)) if out.error == ErrorCode::NotCoordinator)
    );
    assert!(h.coordinator.group(GROUP).is_none());
    assert!(!h.coordinator.offsets().has_offsets(GROUP));
}

#[test]
fn list_groups_types_filter_knows_only_classic() {
    let mut h = Harness::new();
    h.stable_group(1);
    let list = |types: &[&str]| {
        let input = ListGroupsInput {
            states_filter: Vec::new(),
            types_filter: types.iter().map(|s| s.to_string()).collect(),
        };
        match h
            .coordinator
            .list_groups(super::RequestToken(0), &input)
            .responses
            .pop()
        {
            Some(super::Response {
                reply: Reply::ListGroups(out),
                ..
            }) => out.groups.len(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!((list(&["Classic"]), list(&["consumer"])), (1, 0));
}

fn delete_topic_offsets(h: &mut Harness, topics: &[&str]) {
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    let outcome = h.coordinator.delete_offsets_of_topics(&topics);
    assert!(outcome.responses.is_empty());
    h.settle(outcome);
}

#[test]
fn deleting_a_topic_removes_its_offsets_from_every_group_and_keeps_the_rest() {
    let mut h = Harness::new();
    for group_id in [GROUP, "other"] {
        let input = OffsetCommitInput {
            group_id: group_id.into(),
            ..commit_input(
                -1,
                "",
                &[(tp("gone", 0), 1), (tp("gone", 1), 2), (tp("kept", 0), 3)],
            )
        };
        commit(&mut h, input);
    }
    delete_topic_offsets(&mut h, &["gone"]);
    for group_id in [GROUP, "other"] {
        let left: Vec<_> = h
            .coordinator
            .offsets()
            .group_offsets(group_id)
            .map(|(partition, value)| (partition.clone(), value.offset))
            .collect();
        assert_eq!(left, vec![(tp("kept", 0), 3)], "{group_id}");
    }
}

#[test]
fn deleting_a_topic_appends_tombstones_so_a_reload_does_not_bring_offsets_back() {
    let mut h = Harness::new();
    commit(
        &mut h,
        commit_input(-1, "", &[(tp("gone", 0), 1), (tp("kept", 0), 3)]),
    );
    delete_topic_offsets(&mut h, &["gone"]);
    let mut reloaded = Harness::new();
    for record in &h.log {
        reloaded
            .coordinator
            .load_record(&record.key, record.value.as_deref(), h.now_ms)
            .expect("records the coordinator wrote decode");
    }
    reloaded.coordinator.finish_loading(h.now_ms);
    assert!(
        reloaded
            .coordinator
            .offsets()
            .get(GROUP, &tp("gone", 0))
            .is_none()
    );
    assert!(
        reloaded
            .coordinator
            .offsets()
            .get(GROUP, &tp("kept", 0))
            .is_some()
    );
}

#[test]
fn deleting_the_only_topic_of_an_empty_group_removes_the_group() {
    let mut h = Harness::new();
    commit(&mut h, commit_input(-1, "", &[(tp("gone", 0), 1)]));
    assert!(h.coordinator.group(GROUP).is_some());
    delete_topic_offsets(&mut h, &["gone"]);
    assert!(h.coordinator.group(GROUP).is_none());
    assert_eq!(fetch(&mut h, None).partitions.len(), 0);
}

#[test]
fn deleting_a_topic_keeps_a_stable_group_and_its_members() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group(1);
    commit(
        &mut h,
        commit_input(generation, &ids[0], &[(tp("gone", 0), 1)]),
    );
    delete_topic_offsets(&mut h, &["gone"]);
    let group = h.coordinator.group(GROUP).expect("the group stays");
    assert_eq!(group.state, GroupState::Stable);
    assert!(!h.coordinator.offsets().has_offsets(GROUP));
}
