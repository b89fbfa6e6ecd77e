//! ListGroups, DescribeGroups and DeleteGroups.

use sluice_protocol::ErrorCode;

use super::coordinator::GroupCoordinator;
use super::messages::{
    DeletedGroup, DescribedGroup, DescribedMember, ListGroupsInput, ListGroupsOutput, ListedGroup,
};
use super::outcome::{Outcome, Reply, RequestToken, Response};
use super::records::{OffsetsRecord, group_key, offset_key};
use super::state::{Group, GroupState};

/// The only group type of this coordinator (KIP-848 calls it `classic`).
const CLASSIC_GROUP_TYPE: &str = "classic";

impl GroupCoordinator {
    /// Handle ListGroups; answered immediately.
    pub fn list_groups(&self, token: RequestToken, input: &ListGroupsInput) -> Outcome {
        let mut out = Outcome::default();
        let type_ok = input.types_filter.is_empty()
            || input
                .types_filter
                .iter()
                .any(|t| t.eq_ignore_ascii_case(CLASSIC_GROUP_TYPE));
        let groups = self
            .groups
            .values()
            .filter(|_| type_ok)
            .filter(|g| {
                input.states_filter.is_empty()
                    || input
                        .states_filter
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .map(|g| ListedGroup {
                group_id: g.group_id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        out.respond(
            token,
            Reply::ListGroups(ListGroupsOutput {
                error: ErrorCode::None,
                groups,
            }),
        );
        out
    }

    /// Handle DescribeGroups; answered immediately. Unknown groups are
    /// described as `Dead` with no error, as Kafka's classic coordinator does.
    pub fn describe_groups(&self, token: RequestToken, group_ids: &[String]) -> Outcome {
        let mut out = Outcome::default();
        let groups = group_ids
            .iter()
            .map(|id| match self.groups.get(id) {
                Some(group) => describe(group),
                None => DescribedGroup {
                    error: ErrorCode::None,
                    group_id: id.clone(),
                    state: GroupState::Dead,
                    protocol_type: String::new(),
                    protocol: String::new(),
                    members: Vec::new(),
                },
            })
            .collect();
        out.respond(token, Reply::DescribeGroups(groups));
        out
    }

    /// Handle DeleteGroups: only Empty groups go, with all their offsets.
    /// Answered once the tombstones are durable.
    pub fn delete_groups(&mut self, token: RequestToken, group_ids: &[String]) -> Outcome {
        let mut out = Outcome::default();
        let mut results = Vec::with_capacity(group_ids.len());
        let mut appends = Vec::new();
        for group_id in group_ids {
            let error = match self.groups.get(group_id).map(|g| g.state) {
                None | Some(GroupState::Dead) => ErrorCode::GroupIdNotFound,
                Some(GroupState::Empty) => {
                    appends.push((group_id.clone(), self.delete_group(group_id)));
                    ErrorCode::None
                }
                Some(_) => ErrorCode::NonEmptyGroup,
            };
            results.push(DeletedGroup {
                group_id: group_id.clone(),
                error,
            });
        }
        let response = Response {
            token,
            reply: Reply::DeleteGroups(results),
        };
        self.persist_all(appends, response, &mut out);
        out
    }

    /// Forget a group and its offsets; the tombstones to append.
    fn delete_group(&mut self, group_id: &str) -> Vec<OffsetsRecord> {
        self.groups.remove(group_id);
        let mut records: Vec<OffsetsRecord> = self
            .offsets
            .remove_group(group_id)
            .iter()
            .map(|partition| OffsetsRecord {
                key: offset_key(group_id, partition),
                value: None,
            })
            .collect();
        records.push(OffsetsRecord {
            key: group_key(group_id),
            value: None,
        });
        tracing::info!(group = group_id, "group deleted");
        records
    }
}

/// Kafka's group summary: metadata and assignments only when Stable.
fn describe(group: &Group) -> DescribedGroup {
    let stable = group.state == GroupState::Stable;
    let protocol = if stable {
        group.protocol_name.clone().unwrap_or_default()
    } else {
        String::new()
    };
    let mut members: Vec<_> = group.members.values().collect();
    members.sort_by_key(|m| m.join_order);
    DescribedGroup {
        error: ErrorCode::None,
        group_id: group.group_id.clone(),
        state: group.state,
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        members: members
            .into_iter()
            .map(|m| DescribedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata_for(&protocol).cloned().unwrap_or_default()
                } else {
                    Default::default()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Default::default()
                },
            })
            .collect(),
        protocol,
    }
}
