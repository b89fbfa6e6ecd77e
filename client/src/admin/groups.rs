//! Consumer groups: list, describe, delete, committed offsets with lag, and
//! offset resets (only while the group is empty).

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};

use crate::admin::plan::{PartitionOffsets, lag, reset_target};
use crate::admin::types::{
    GroupDescription, GroupMember, GroupPartitionOffset, ListedGroup, ListedOffset, OffsetReset,
    OffsetSpec, ResetOffset, ResourceError, ResourceOutcome,
};
use crate::admin::{Admin, text};
use crate::error::{ClientError, Result};

/// The generation id OffsetCommit accepts from a client outside the group
/// (admin tools), valid only while the group has no members.
const NO_GENERATION: i32 = -1;
/// `retention_time_ms` meaning "the broker's default" (OffsetCommit v2–v4).
const DEFAULT_RETENTION: i64 = -1;
/// Group states in which offsets may be reset.
const RESETTABLE_STATES: [&str; 2] = ["Empty", "Dead"];

fn group_id(group: &str) -> GroupId {
    GroupId(text(group))
}

impl Admin {
    /// Every group on every broker (each broker lists the groups it coordinates).
    ///
    /// # Errors
    /// Metadata or transport errors; a broker error code from any broker.
    pub async fn list_groups(&self) -> Result<Vec<ListedGroup>> {
        let metadata = self.client.refresh_metadata(Some(&[])).await?;
        let mut groups = Vec::new();
        for broker in metadata.brokers {
            let response = self
                .client
                .send_to_broker(broker.id, &ListGroupsRequest::default())
                .await?;
            if let Some(error) = ResourceError::from_parts(response.error_code, None) {
                return Err(error.into());
            }
            groups.extend(response.groups.into_iter().map(|g| ListedGroup {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: g.group_state.to_string(),
            }));
        }
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(groups)
    }

    /// Describes groups, each asked of its own coordinator. A group that does
    /// not exist is reported in state `Dead`, as Kafka does.
    ///
    /// # Errors
    /// Transport errors or coordinator lookup failures.
    pub async fn describe_groups(&self, groups: &[String]) -> Result<Vec<GroupDescription>> {
        let mut descriptions = Vec::with_capacity(groups.len());
        for group in groups {
            let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
            let response = self.client.send_to_coordinator(group, &request).await?;
            descriptions.extend(response.groups.into_iter().map(|g| {
                GroupDescription {
                    group_id: g.group_id.0.to_string(),
                    state: g.group_state.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    protocol: g.protocol_data.to_string(),
                    members: g
                        .members
                        .into_iter()
                        .map(|m| GroupMember {
                            member_id: m.member_id.to_string(),
                            group_instance_id: m.group_instance_id.map(|i| i.to_string()),
                            client_id: m.client_id.to_string(),
                            client_host: m.client_host.to_string(),
                        })
                        .collect(),
                    error: ResourceError::from_parts(
                        g.error_code,
                        g.error_message.map(|m| m.to_string()),
                    ),
                }
            }));
        }
        Ok(descriptions)
    }

    /// Deletes groups (each must be empty), each at its own coordinator.
    ///
    /// # Errors
    /// Transport errors or coordinator lookup failures.
    pub async fn delete_groups(&self, groups: &[String]) -> Result<Vec<ResourceOutcome>> {
        let mut outcomes = Vec::with_capacity(groups.len());
        for group in groups {
            let request = DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]);
            let response = self.client.send_to_coordinator(group, &request).await?;
            outcomes.extend(response.results.into_iter().map(|r| ResourceOutcome {
                name: r.group_id.0.to_string(),
                error: ResourceError::from_parts(r.error_code, None),
            }));
        }
        Ok(outcomes)
    }

    /// The group's committed offsets with each partition's log end offset and lag.
    ///
    /// # Errors
    /// Transport errors or the group's error.
    pub async fn group_offsets(&self, group: &str) -> Result<Vec<GroupPartitionOffset>> {
        let committed = self.committed_offsets(group).await?;
        let partitions: Vec<(String, i32)> = committed.keys().cloned().collect();
        let log_ends =
            offsets_by_partition(self.list_offsets(&partitions, OffsetSpec::Latest).await?);
        Ok(committed
            .into_iter()
            .map(|((topic, partition), (committed_offset, metadata))| {
                let log_end_offset = log_ends.get(&(topic.clone(), partition)).copied();
                GroupPartitionOffset {
                    lag: lag(committed_offset, log_end_offset),
                    topic,
                    partition,
                    committed_offset,
                    metadata,
                    log_end_offset,
                }
            })
            .collect())
    }

    /// Moves the group's offsets on every partition of `topics`, like
    /// `kafka-consumer-groups --reset-offsets --execute`: refused unless the
    /// group is Empty (or does not exist), committed with generation -1.
    ///
    /// # Errors
    /// [`ClientError::GroupNotEmpty`] when the group has members; metadata
    /// errors for unknown topics; transport errors.
    pub async fn reset_group_offsets(
        &self,
        group: &str,
        topics: &[String],
        reset: OffsetReset,
    ) -> Result<Vec<ResetOffset>> {
        self.ensure_group_is_empty(group).await?;
        let partitions = self.partitions_of(topics).await?;
        let earliest =
            offsets_by_partition(self.list_offsets(&partitions, OffsetSpec::Earliest).await?);
        let latest =
            offsets_by_partition(self.list_offsets(&partitions, OffsetSpec::Latest).await?);
        let committed = self.committed_offsets(group).await?;
        let at_timestamp = match reset {
            OffsetReset::Timestamp(timestamp_ms) => offsets_by_partition(
                self.list_offsets(&partitions, OffsetSpec::Timestamp(timestamp_ms))
                    .await?,
            ),
            _ => BTreeMap::new(),
        };
        let mut targets = BTreeMap::new();
        for key in &partitions {
            let (Some(&earliest), Some(&latest)) = (earliest.get(key), latest.get(key)) else {
                return Err(ClientError::UnknownPartition {
                    topic: key.0.clone(),
                    partition: key.1,
                });
            };
            let offsets = PartitionOffsets {
                earliest,
                latest,
                committed: committed.get(key).and_then(|(offset, _)| *offset),
                at_timestamp: at_timestamp.get(key).copied(),
            };
            targets.insert(key.clone(), reset_target(reset, offsets));
        }
        self.commit_offsets(group, &targets).await
    }

    async fn ensure_group_is_empty(&self, group: &str) -> Result<()> {
        let description = self
            .describe_groups(&[group.to_owned()])
            .await?
            .into_iter()
            .next();
        let Some(description) = description else {
            return Ok(());
        };
        if let Some(error) = description.error {
            return Err(error.into());
        }
        if !RESETTABLE_STATES.contains(&description.state.as_str()) {
            return Err(ClientError::GroupNotEmpty {
                group: group.to_owned(),
                state: description.state,
            });
        }
        Ok(())
    }

    async fn partitions_of(&self, topics: &[String]) -> Result<Vec<(String, i32)>> {
        let metadata = self.client.refresh_metadata(Some(topics)).await?;
        let mut partitions = Vec::new();
        for topic in metadata.topics {
            if let Some(error) =
                ResourceError::from_parts(topic.error.code(), Some(topic.name.clone()))
            {
                return Err(error.into());
            }
            partitions.extend(
                topic
                    .partitions
                    .iter()
                    .map(|p| (topic.name.clone(), p.partition)),
            );
        }
        Ok(partitions)
    }

    /// Committed offset (`None` when never committed) and metadata per partition.
    async fn committed_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<(String, i32), (Option<i64>, Option<String>)>> {
        let request = OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(None);
        let response = self.client.send_to_coordinator(group, &request).await?;
        if let Some(error) = ResourceError::from_parts(response.error_code, Some(group.to_owned()))
        {
            return Err(error.into());
        }
        let mut committed = BTreeMap::new();
        for topic in response.topics {
            for p in topic.partitions {
                if let Some(error) = ResourceError::from_parts(p.error_code, None) {
                    return Err(error.into());
                }
                let offset = (p.committed_offset >= 0).then_some(p.committed_offset);
                committed.insert(
                    (topic.name.0.to_string(), p.partition_index),
                    (offset, p.metadata.map(|m| m.to_string())),
                );
            }
        }
        Ok(committed)
    }

    async fn commit_offsets(
        &self,
        group: &str,
        targets: &BTreeMap<(String, i32), i64>,
    ) -> Result<Vec<ResetOffset>> {
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for ((topic, partition), offset) in targets {
            topics.entry(topic).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*partition)
                    .with_committed_offset(*offset)
                    .with_committed_metadata(Some(text(""))),
            );
        }
        let connection_version = self
            .client
            .connection_to_address(&self.client.coordinator_for(group).await?.address())
            .await?
            .version::<OffsetCommitRequest>()?;
        let mut request = OffsetCommitRequest::default()
            .with_group_id(group_id(group))
            .with_generation_id_or_member_epoch(NO_GENERATION)
            .with_member_id(text(""))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(name, partitions)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(text(name)))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        if connection_version <= 4 {
            request = request.with_retention_time_ms(DEFAULT_RETENTION);
        }
        let response = self.client.send_to_coordinator(group, &request).await?;
        let mut results = Vec::new();
        for topic in response.topics {
            let name = topic.name.0.to_string();
            for p in topic.partitions {
                let offset = targets
                    .get(&(name.clone(), p.partition_index))
                    .copied()
                    .unwrap_or(-1);
                results.push(ResetOffset {
                    topic: name.clone(),
                    partition: p.partition_index,
                    offset,
                    error: ResourceError::from_parts(p.error_code, None),
                });
            }
        }
        Ok(results)
    }
}

/// Successful ListOffsets answers by partition.
fn offsets_by_partition(listed: Vec<ListedOffset>) -> BTreeMap<(String, i32), i64> {
    listed
        .into_iter()
        .filter(|offset| offset.error.is_none())
        .map(|offset| ((offset.topic, offset.partition), offset.offset))
        .collect()
}
