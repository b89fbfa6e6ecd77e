//! The group coordinator's requests (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch), built with `kafka-protocol` and
//! routed by the client to the group's coordinator. Each returns the
//! response's error code as a value; the callers decide what it means.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use sluice_client::Client;
use sluice_protocol::ErrorCode;

use crate::embedded::PROTOCOL_TYPE;
use crate::error::{ConsumerError, Result};
use crate::partition::TopicPartition;

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

/// The coordinator's answer to JoinGroup, as plain values.
#[derive(Debug, Clone)]
pub(crate) struct JoinOutcome {
    pub(crate) code: ErrorCode,
    pub(crate) member_id: String,
    pub(crate) generation: i32,
    pub(crate) leader: String,
    pub(crate) protocol_name: Option<String>,
    /// `(member id, group instance id, subscription)`, only for the leader.
    pub(crate) members: Vec<(String, Option<String>, Bytes)>,
}

impl From<JoinGroupResponse> for JoinOutcome {
    fn from(response: JoinGroupResponse) -> Self {
        JoinOutcome {
            code: ErrorCode::from_code(response.error_code),
            member_id: response.member_id.to_string(),
            generation: response.generation_id,
            leader: response.leader.to_string(),
            protocol_name: response.protocol_name.map(|p| p.to_string()),
            members: response
                .members
                .into_iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.group_instance_id.map(|i| i.to_string()),
                        m.metadata,
                    )
                })
                .collect(),
        }
    }
}

/// Requests to one group's coordinator.
#[derive(Debug, Clone)]
pub(crate) struct GroupClient {
    pub(crate) client: Client,
    pub(crate) group_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
}

impl GroupClient {
    fn group(&self) -> GroupId {
        GroupId(text(&self.group_id))
    }

    fn instance(&self) -> Option<StrBytes> {
        self.group_instance_id.as_deref().map(text)
    }

    /// Sends JoinGroup offering `protocols` (assignor name, subscription).
    pub(crate) async fn join(
        &self,
        member_id: &str,
        protocols: Vec<(&'static str, Bytes)>,
    ) -> Result<JoinOutcome> {
        let request = JoinGroupRequest::default()
            .with_group_id(self.group())
            .with_session_timeout_ms(self.session_timeout_ms)
            .with_rebalance_timeout_ms(self.rebalance_timeout_ms)
            .with_member_id(text(member_id))
            .with_group_instance_id(self.instance())
            .with_protocol_type(text(PROTOCOL_TYPE))
            .with_protocols(
                protocols
                    .into_iter()
                    .map(|(name, metadata)| {
                        JoinGroupRequestProtocol::default()
                            .with_name(text(name))
                            .with_metadata(metadata)
                    })
                    .collect(),
            );
        let response = self
            .client
            .send_to_coordinator(&self.group_id, &request)
            .await?;
        Ok(JoinOutcome::from(response))
    }

    /// Sends SyncGroup; the leader passes every member's encoded assignment.
    pub(crate) async fn sync(
        &self,
        generation: i32,
        member_id: &str,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<SyncGroupResponse> {
        let request = SyncGroupRequest::default()
            .with_group_id(self.group())
            .with_generation_id(generation)
            .with_member_id(text(member_id))
            .with_group_instance_id(self.instance())
            .with_protocol_type(Some(text(PROTOCOL_TYPE)))
            .with_protocol_name(protocol_name.map(text))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(member, assignment)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(text(&member))
                            .with_assignment(assignment)
                    })
                    .collect(),
            );
        Ok(self
            .client
            .send_to_coordinator(&self.group_id, &request)
            .await?)
    }

    /// Sends one Heartbeat; the error code says whether to rejoin.
    pub(crate) async fn heartbeat(&self, generation: i32, member_id: &str) -> Result<ErrorCode> {
        let request = HeartbeatRequest::default()
            .with_group_id(self.group())
            .with_generation_id(generation)
            .with_member_id(text(member_id))
            .with_group_instance_id(self.instance());
        let response = self
            .client
            .send_to_coordinator(&self.group_id, &request)
            .await?;
        Ok(ErrorCode::from_code(response.error_code))
    }

    /// Leaves the group so its partitions move at once rather than after the session timeout.
    pub(crate) async fn leave(&self, member_id: &str, reason: &str) -> Result<ErrorCode> {
        let request = LeaveGroupRequest::default()
            .with_group_id(self.group())
            .with_members(vec![
                MemberIdentity::default()
                    .with_member_id(text(member_id))
                    .with_group_instance_id(self.instance())
                    .with_reason(Some(text(reason))),
            ]);
        let response = self
            .client
            .send_to_coordinator(&self.group_id, &request)
            .await?;
        Ok(ErrorCode::from_code(response.error_code))
    }

    /// Commits `offsets` (the next offset to read per partition) for `generation`.
    ///
    /// # Errors
    /// [`ConsumerError::CommitFailed`] naming the first partition refused.
    pub(crate) async fn commit(
        &self,
        generation: i32,
        member_id: &str,
        offsets: &[(TopicPartition, i64)],
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, offset) in offsets {
            topics.entry(&tp.topic).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_committed_offset(*offset)
                    .with_committed_leader_epoch(-1),
            );
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(self.group())
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(text(member_id))
            .with_group_instance_id(self.instance())
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(text(topic)))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let response = self
            .client
            .send_to_coordinator(&self.group_id, &request)
            .await?;
        for topic in &response.topics {
            for partition in &topic.partitions {
                let code = ErrorCode::from_code(partition.error_code);
                if code != ErrorCode::None {
                    return Err(ConsumerError::CommitFailed {
                        partition: TopicPartition::new(
                            topic.name.0.as_str(),
                            partition.partition_index,
                        ),
                        code,
                    });
                }
            }
        }
        Ok(())
    }

    /// The committed offsets of `partitions` (`None` where nothing is committed).
    ///
    /// # Errors
    /// [`ConsumerError::Group`] for a group-level error.
    pub(crate) async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            topics.entry(&tp.topic).or_default().push(tp.partition);
        }
        let request = OffsetFetchRequest::default()
            .with_group_id(self.group())
            .with_topics(Some(
                topics
                    .into_iter()
                    .map(|(topic, indexes)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(text(topic)))
                            .with_partition_indexes(indexes)
                    })
                    .collect(),
            ));
        let response = self
            .client
            .send_to_coordinator(&self.group_id, &request)
            .await?;
        let code = ErrorCode::from_code(response.error_code);
        if code != ErrorCode::None {
            return Err(ConsumerError::Group {
                group: self.group_id.clone(),
                api: "OffsetFetch",
                code,
            });
        }
        let mut committed = BTreeMap::new();
        for topic in &response.topics {
            let name: Arc<str> = topic.name.0.as_str().into();
            for partition in &topic.partitions {
                let code = ErrorCode::from_code(partition.error_code);
                if code != ErrorCode::None {
                    return Err(ConsumerError::Group {
                        group: self.group_id.clone(),
                        api: "OffsetFetch",
                        code,
                    });
                }
                let offset =
                    (partition.committed_offset >= 0).then_some(partition.committed_offset);
                committed.insert(
                    TopicPartition::new(name.clone(), partition.partition_index),
                    offset,
                );
            }
        }
        Ok(committed)
    }
}
