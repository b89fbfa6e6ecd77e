//! The classic group APIs, translated to and from the group coordinator's
//! inputs and outputs: JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! ListGroups, DescribeGroups and DeleteGroups.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use sluice_protocol::ErrorCode;

use super::{AUTHORIZED_OPERATIONS_OMITTED, str_bytes};
use crate::dispatch::RequestContext;
use crate::group::messages::{
    HeartbeatInput, JoinGroupInput, JoinProtocol, LeaveGroupInput, LeavingMember, ListGroupsInput,
    SyncGroupInput,
};
use crate::group::{GroupState, Reply};

fn text(s: &StrBytes) -> String {
    s.to_string()
}

fn opt_text(s: Option<&StrBytes>) -> Option<String> {
    s.map(text)
}

fn opt_str(s: Option<&String>) -> Option<StrBytes> {
    s.map(|s| str_bytes(s))
}

/// Answers a JoinGroup request (possibly after the join phase completes).
pub async fn join_group(ctx: &RequestContext<'_>, request: JoinGroupRequest) -> JoinGroupResponse {
    let version = ctx.version();
    let input = JoinGroupInput {
        api_version: version,
        group_id: request.group_id.to_string(),
        member_id: text(&request.member_id),
        group_instance_id: opt_text(request.group_instance_id.as_ref()),
        client_id: ctx.client_id().to_owned(),
        client_host: format!("/{}", ctx.peer.ip()),
        session_timeout_ms: request.session_timeout_ms,
        // JoinGroup v0 has no rebalance timeout; Kafka uses the session timeout.
        rebalance_timeout_ms: if version == 0 {
            request.session_timeout_ms
        } else {
            request.rebalance_timeout_ms
        },
        protocol_type: text(&request.protocol_type),
        protocols: request
            .protocols
            .iter()
            .map(|p| JoinProtocol {
                name: text(&p.name),
                metadata: p.metadata.clone(),
            })
            .collect(),
    };
    let member_id = input.member_id.clone();
    let reply = ctx
        .broker
        .groups()
        .call(ctx.broker, |c, token, now| c.join_group(token, input, now))
        .await;
    let out = match reply {
        Ok(Reply::JoinGroup(out)) => out,
        Ok(_) | Err(_) => crate::group::messages::JoinGroupOutput::error(
            ErrorCode::CoordinatorNotAvailable,
            &member_id,
        ),
    };
    let members = out
        .members
        .iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(&m.member_id))
                .with_group_instance_id(if version >= 5 {
                    opt_str(m.group_instance_id.as_ref())
                } else {
                    None
                })
                .with_metadata(m.metadata.clone())
        })
        .collect();
    let response = JoinGroupResponse::default()
        .with_error_code(out.error.code())
        .with_generation_id(out.generation_id)
        .with_protocol_name(opt_str(out.protocol_name.as_ref()).or(if version < 7 {
            Some(StrBytes::default())
        } else {
            None
        }))
        .with_leader(str_bytes(&out.leader))
        .with_member_id(str_bytes(&out.member_id))
        .with_members(members);
    let response = if version >= 7 {
        response.with_protocol_type(opt_str(out.protocol_type.as_ref()))
    } else {
        response
    };
    if version >= 9 {
        response.with_skip_assignment(out.skip_assignment)
    } else {
        response
    }
}

/// Answers a SyncGroup request (followers wait for the leader's assignment).
pub async fn sync_group(ctx: &RequestContext<'_>, request: SyncGroupRequest) -> SyncGroupResponse {
    let version = ctx.version();
    let input = SyncGroupInput {
        api_version: version,
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id,
        member_id: text(&request.member_id),
        group_instance_id: opt_text(request.group_instance_id.as_ref()),
        protocol_type: opt_text(request.protocol_type.as_ref()),
        protocol_name: opt_text(request.protocol_name.as_ref()),
        assignments: request
            .assignments
            .iter()
            .map(|a| (text(&a.member_id), a.assignment.clone()))
            .collect(),
    };
    let reply = ctx
        .broker
        .groups()
        .call(ctx.broker, |c, token, now| c.sync_group(token, input, now))
        .await;
    let out = match reply {
        Ok(Reply::SyncGroup(out)) => out,
        Ok(_) | Err(_) => {
            crate::group::messages::SyncGroupOutput::error(ErrorCode::CoordinatorNotAvailable)
        }
    };
    let response = SyncGroupResponse::default()
        .with_error_code(out.error.code())
        .with_assignment(out.assignment);
    if version >= 5 {
        response
            .with_protocol_type(opt_str(out.protocol_type.as_ref()))
            .with_protocol_name(opt_str(out.protocol_name.as_ref()))
    } else {
        response
    }
}

/// Answers a Heartbeat request.
pub async fn heartbeat(ctx: &RequestContext<'_>, request: HeartbeatRequest) -> HeartbeatResponse {
    let input = HeartbeatInput {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id,
        member_id: text(&request.member_id),
        group_instance_id: opt_text(request.group_instance_id.as_ref()),
    };
    let reply = ctx
        .broker
        .groups()
        .call(ctx.broker, |c, token, now| c.heartbeat(token, input, now))
        .await;
    let error = match reply {
        Ok(Reply::Heartbeat(error)) => error,
        Ok(_) | Err(_) => ErrorCode::CoordinatorNotAvailable,
    };
    HeartbeatResponse::default().with_error_code(error.code())
}

/// Answers a LeaveGroup request (one member before v3, a batch from v3).
pub async fn leave_group(
    ctx: &RequestContext<'_>,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let version = ctx.version();
    let members = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: text(&m.member_id),
                group_instance_id: opt_text(m.group_instance_id.as_ref()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: text(&request.member_id),
            group_instance_id: None,
        }]
    };
    let input = LeaveGroupInput {
        group_id: request.group_id.to_string(),
        members,
    };
    let reply = ctx
        .broker
        .groups()
        .call(ctx.broker, |c, token, now| c.leave_group(token, input, now))
        .await;
    let out = match reply {
        Ok(Reply::LeaveGroup(out)) => out,
        Ok(_) | Err(_) => crate::group::messages::LeaveGroupOutput {
            error: ErrorCode::CoordinatorNotAvailable,
            members: Vec::new(),
        },
    };
    if version < 3 {
        // No member list before v3: report the single member's error.
        let error = if out.error == ErrorCode::None {
            out.members.first().map_or(ErrorCode::None, |m| m.error)
        } else {
            out.error
        };
        return LeaveGroupResponse::default().with_error_code(error.code());
    }
    let members = out
        .members
        .iter()
        .map(|m| {
            MemberResponse::default()
                .with_member_id(str_bytes(&m.member_id))
                .with_group_instance_id(opt_str(m.group_instance_id.as_ref()))
                .with_error_code(m.error.code())
        })
        .collect();
    LeaveGroupResponse::default()
        .with_error_code(out.error.code())
        .with_members(members)
}

/// Answers a ListGroups request.
pub async fn list_groups(
    ctx: &RequestContext<'_>,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let version = ctx.version();
    let input = ListGroupsInput {
        states_filter: request.states_filter.iter().map(text).collect(),
        types_filter: request.types_filter.iter().map(text).collect(),
    };
    let reply = ctx
        .broker
        .groups()
        .call(ctx.broker, |c, token, _| c.list_groups(token, &input))
        .await;
    let Ok(Reply::ListGroups(out)) = reply else {
        return ListGroupsResponse::default()
            .with_error_code(ErrorCode::CoordinatorNotAvailable.code());
    };
    let groups = out
        .groups
        .iter()
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_protocol_type(str_bytes(&g.protocol_type));
            let listed = if version >= 4 {
                listed.with_group_state(str_bytes(g.state.name()))
            } else {
                listed
            };
            if version >= 5 {
                listed.with_group_type(str_bytes("classic"))
            } else {
                listed
            }
        })
        .collect();
    ListGroupsResponse::default()
        .with_error_code(out.error.code())
        .with_groups(groups)
}

/// The first DescribeGroups version that answers GROUP_ID_NOT_FOUND.
const GROUP_NOT_FOUND_VERSION: i16 = 6;

/// Answers a DescribeGroups request.
pub async fn describe_groups(
    ctx: &RequestContext<'_>,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = ctx.version();
    let group_ids: Vec<String> = request.groups.iter().map(|g| g.to_string()).collect();
    let reply = ctx
        .broker
        .groups()
        .call(ctx.broker, |c, token, _| {
            c.describe_groups(token, &group_ids)
        })
        .await;
    let described = match reply {
        Ok(Reply::DescribeGroups(groups)) => groups,
        Ok(_) | Err(_) => Vec::new(),
    };
    let groups = described
        .iter()
        .map(|g| {
            let members = g
                .members
                .iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_group_instance_id(if version >= 4 {
                            opt_str(m.group_instance_id.as_ref())
                        } else {
                            None
                        })
                        .with_client_id(str_bytes(&m.client_id))
                        .with_client_host(str_bytes(&m.client_host))
                        .with_member_metadata(m.metadata.clone())
                        .with_member_assignment(m.assignment.clone())
                })
                .collect();
            // From v6 (KIP-1043) a group that does not exist is an error,
            // not a `Dead` group with none.
            let missing = version >= GROUP_NOT_FOUND_VERSION
                && g.error == ErrorCode::None
                && g.state == GroupState::Dead;
            let (error, message) = if missing {
                let message = format!("Group {} not found.", g.group_id);
                (ErrorCode::GroupIdNotFound, Some(str_bytes(&message)))
            } else {
                (g.error, None)
            };
            let group = DescribedGroup::default()
                .with_error_code(error.code())
                .with_error_message(message)
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_group_state(str_bytes(g.state.name()))
                .with_protocol_type(str_bytes(&g.protocol_type))
                .with_protocol_data(str_bytes(&g.protocol))
                .with_members(members);
            if version >= 3 {
                group.with_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
            } else {
                group
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

/// Answers a DeleteGroups request.
pub async fn delete_groups(
    ctx: &RequestContext<'_>,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let group_ids: Vec<String> = request.groups_names.iter().map(|g| g.to_string()).collect();
    let reply = ctx
        .broker
        .groups()
        .call(ctx.broker, |c, token, _| c.delete_groups(token, &group_ids))
        .await;
    let results = match reply {
        Ok(Reply::DeleteGroups(groups)) => groups
            .iter()
            .map(|g| {
                DeletableGroupResult::default()
                    .with_group_id(GroupId(str_bytes(&g.group_id)))
                    .with_error_code(g.error.code())
            })
            .collect(),
        Ok(_) | Err(_) => group_ids
            .iter()
            .map(|g| {
                DeletableGroupResult::default()
                    .with_group_id(GroupId(str_bytes(g)))
                    .with_error_code(ErrorCode::CoordinatorNotAvailable.code())
            })
            .collect(),
    };
    DeleteGroupsResponse::default().with_results(results)
}
