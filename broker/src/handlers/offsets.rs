//! The committed-offset APIs: OffsetCommit, OffsetFetch and OffsetDelete,
//! translated to and from the group coordinator.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use sluice_protocol::ErrorCode;

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::group::Reply;
use crate::group::messages::{
    CommitPartition, FetchedOffset, OffsetCommitInput, OffsetDeleteInput, OffsetFetchInput,
    OffsetFetchOutput, PartitionResult, TopicPartition,
};

/// The first OffsetFetch version that batches groups (KIP-709).
const BATCHED_FETCH_VERSION: i16 = 8;

fn topic_name(name: &str) -> TopicName {
    TopicName(str_bytes(name))
}

/// Groups per-partition results by topic, keeping first-seen topic order.
fn by_topic<T>(items: Vec<(TopicPartition, T)>) -> Vec<(String, Vec<(i32, T)>)> {
    let mut topics: Vec<(String, Vec<(i32, T)>)> = Vec::new();
    for (tp, item) in items {
        match topics.iter_mut().find(|(name, _)| *name == tp.topic) {
            Some((_, partitions)) => partitions.push((tp.partition, item)),
            None => topics.push((tp.topic, vec![(tp.partition, item)])),
        }
    }
    topics
}

/// Answers an OffsetCommit request once the commit is durable.
pub async fn offset_commit(
    ctx: &RequestContext<'_>,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let partitions: Vec<CommitPartition> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| CommitPartition {
                partition: TopicPartition {
                    topic: t.name.to_string(),
                    partition: p.partition_index,
                },
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.as_ref().map(ToString::to_string),
            })
        })
        .collect();
    let requested: Vec<TopicPartition> = partitions.iter().map(|p| p.partition.clone()).collect();
    let input = OffsetCommitInput {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(ToString::to_string),
        partitions,
    };
    let reply = ctx
        .broker
        .groups()
        .call(ctx.broker, |c, token, now| {
            c.offset_commit(token, input, now)
        })
        .await;
    let results: Vec<PartitionResult> = match reply {
        Ok(Reply::OffsetCommit(out)) => out.partitions,
        Ok(_) | Err(_) => requested
            .into_iter()
            .map(|partition| PartitionResult {
                partition,
                error: ErrorCode::CoordinatorNotAvailable,
            })
            .collect(),
    };
    let topics = by_topic(
        results
            .into_iter()
            .map(|r| (r.partition, r.error))
            .collect(),
    )
    .into_iter()
    .map(|(name, partitions)| {
        OffsetCommitResponseTopic::default()
            .with_name(topic_name(&name))
            .with_partitions(
                partitions
                    .into_iter()
                    .map(|(index, error)| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(error.code())
                    })
                    .collect(),
            )
    })
    .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// Answers an OffsetFetch request (one group before v8, several from v8).
pub async fn offset_fetch(
    ctx: &RequestContext<'_>,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = ctx.version();
    if version >= BATCHED_FETCH_VERSION {
        let mut groups = Vec::with_capacity(request.groups.len());
        for group in &request.groups {
            let partitions = group.topics.as_ref().map(|topics| {
                topics
                    .iter()
                    .flat_map(|t| {
                        t.partition_indexes.iter().map(|&partition| TopicPartition {
                            topic: t.name.to_string(),
                            partition,
                        })
                    })
                    .collect()
            });
            let out = fetch_one(ctx, group.group_id.to_string(), partitions).await;
            groups.push(batched_group(&group.group_id, out, version));
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let partitions = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partition_indexes.iter().map(|&partition| TopicPartition {
                    topic: t.name.to_string(),
                    partition,
                })
            })
            .collect()
    });
    let out = fetch_one(ctx, request.group_id.to_string(), partitions).await;
    let topics = by_topic(
        out.partitions
            .into_iter()
            .map(|p| (p.partition.clone(), p))
            .collect(),
    )
    .into_iter()
    .map(|(name, partitions)| {
        OffsetFetchResponseTopic::default()
            .with_name(topic_name(&name))
            .with_partitions(
                partitions
                    .into_iter()
                    .map(|(index, p)| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(index)
                            .with_committed_offset(p.offset)
                            .with_committed_leader_epoch(if version >= 5 {
                                p.leader_epoch
                            } else {
                                -1
                            })
                            .with_metadata(Some(str_bytes(&p.metadata)))
                            .with_error_code(p.error.code())
                    })
                    .collect(),
            )
    })
    .collect();
    let response = OffsetFetchResponse::default().with_topics(topics);
    if version >= 2 {
        response.with_error_code(out.error.code())
    } else {
        response
    }
}

async fn fetch_one(
    ctx: &RequestContext<'_>,
    group_id: String,
    partitions: Option<Vec<TopicPartition>>,
) -> OffsetFetchOutput {
    let input = OffsetFetchInput {
        group_id,
        partitions,
    };
    let reply = ctx
        .broker
        .groups()
        .call(ctx.broker, |c, token, _| c.offset_fetch(token, input))
        .await;
    match reply {
        Ok(Reply::OffsetFetch(out)) => out,
        Ok(_) | Err(_) => OffsetFetchOutput {
            error: ErrorCode::CoordinatorNotAvailable,
            partitions: Vec::new(),
        },
    }
}

fn batched_group(
    group_id: &GroupId,
    out: OffsetFetchOutput,
    _version: i16,
) -> OffsetFetchResponseGroup {
    let topics = by_topic(
        out.partitions
            .into_iter()
            .map(|p: FetchedOffset| (p.partition.clone(), p))
            .collect(),
    )
    .into_iter()
    .map(|(name, partitions)| {
        OffsetFetchResponseTopics::default()
            .with_name(topic_name(&name))
            .with_partitions(
                partitions
                    .into_iter()
                    .map(|(index, p)| {
                        OffsetFetchResponsePartitions::default()
                            .with_partition_index(index)
                            .with_committed_offset(p.offset)
                            .with_committed_leader_epoch(p.leader_epoch)
                            .with_metadata(Some(str_bytes(&p.metadata)))
                            .with_error_code(p.error.code())
                    })
                    .collect(),
            )
    })
    .collect();
    OffsetFetchResponseGroup::default()
        .with_group_id(group_id.clone())
        .with_topics(topics)
        .with_error_code(out.error.code())
}

/// Answers an OffsetDelete request.
pub async fn offset_delete(
    ctx: &RequestContext<'_>,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let input = OffsetDeleteInput {
        group_id: request.group_id.to_string(),
        partitions: request
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| TopicPartition {
                    topic: t.name.to_string(),
                    partition: p.partition_index,
                })
            })
            .collect(),
    };
    let reply = ctx
        .broker
        .groups()
        .call(ctx.broker, |c, token, _| c.offset_delete(token, input))
        .await;
    let Ok(Reply::OffsetDelete(out)) = reply else {
        return OffsetDeleteResponse::default()
            .with_error_code(ErrorCode::CoordinatorNotAvailable.code());
    };
    let topics = by_topic(
        out.partitions
            .into_iter()
            .map(|r| (r.partition, r.error))
            .collect(),
    )
    .into_iter()
    .map(|(name, partitions)| {
        OffsetDeleteResponseTopic::default()
            .with_name(topic_name(&name))
            .with_partitions(
                partitions
                    .into_iter()
                    .map(|(index, error)| {
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(error.code())
                    })
                    .collect(),
            )
    })
    .collect();
    OffsetDeleteResponse::default()
        .with_error_code(out.error.code())
        .with_topics(topics)
}
