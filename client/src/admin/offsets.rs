//! ListOffsets across partitions: grouped by leader, one request per leader,
//! partitions whose leader moved retried after a metadata refresh.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse, TopicName};
use sluice_protocol::ErrorCode;

use crate::admin::types::{ListedOffset, OffsetSpec, ResourceError};
use crate::admin::{Admin, text};
use crate::error::{ClientError, Result};
use crate::retry::{RetryAction, action_for_code, action_for_error};
use crate::routing::Retries;

/// A consumer's replica id in ListOffsets (not a follower).
const CONSUMER_REPLICA_ID: i32 = -1;

type PartitionKey = (String, i32);

impl Admin {
    /// Looks up an offset per partition (earliest, latest, max timestamp, or
    /// by timestamp). Partitions whose leader moved are retried after a
    /// metadata refresh until `default_api_timeout_ms`; what still fails is
    /// reported per partition.
    ///
    /// # Errors
    /// Only errors that are not per partition (a non-retriable transport or
    /// version error).
    pub async fn list_offsets(
        &self,
        partitions: &[(String, i32)],
        spec: OffsetSpec,
    ) -> Result<Vec<ListedOffset>> {
        let mut remaining: BTreeSet<PartitionKey> = partitions.iter().cloned().collect();
        let mut results: BTreeMap<PartitionKey, ListedOffset> = BTreeMap::new();
        let mut retries = Retries::new(self.client());
        loop {
            let mut last_error = None;
            for (leader, keys) in self.group_by_leader(&remaining, &mut last_error).await {
                match self.list_offsets_at(leader, &keys, spec).await {
                    Ok(listed) => {
                        for offset in listed {
                            let key = (offset.topic.clone(), offset.partition);
                            let code = offset.error.as_ref().map_or(ErrorCode::None, |e| e.code);
                            if action_for_code(code) == RetryAction::Done {
                                remaining.remove(&key);
                            } else {
                                last_error = Some(ClientError::broker(
                                    code,
                                    Some(format!("{}-{}", key.0, key.1)),
                                ));
                            }
                            results.insert(key, offset);
                        }
                    }
                    Err(error) if action_for_error(&error) == RetryAction::Done => {
                        return Err(error);
                    }
                    Err(error) => last_error = Some(error),
                }
            }
            let Some(error) = last_error.filter(|_| !remaining.is_empty()) else {
                break;
            };
            if retries
                .wait(self.client(), RetryAction::RefreshMetadata, None, error)
                .await
                .is_err()
            {
                break;
            }
        }
        for (topic, partition) in remaining {
            results
                .entry((topic.clone(), partition))
                .or_insert_with(|| ListedOffset {
                    topic,
                    partition,
                    offset: -1,
                    timestamp_ms: -1,
                    leader_epoch: -1,
                    error: Some(ResourceError {
                        code: ErrorCode::LeaderNotAvailable,
                        message: None,
                    }),
                });
        }
        Ok(results.into_values().collect())
    }

    /// Groups partitions by their leader's broker id; partitions without a
    /// known leader are left out and their lookup error kept in `last_error`.
    async fn group_by_leader(
        &self,
        keys: &BTreeSet<PartitionKey>,
        last_error: &mut Option<ClientError>,
    ) -> BTreeMap<i32, Vec<PartitionKey>> {
        let mut by_leader: BTreeMap<i32, Vec<PartitionKey>> = BTreeMap::new();
        for (topic, partition) in keys {
            match self.client().leader_for(topic, *partition).await {
                Ok(leader) => by_leader
                    .entry(leader.id)
                    .or_default()
                    .push((topic.clone(), *partition)),
                Err(error) => *last_error = Some(error),
            }
        }
        by_leader
    }

    async fn list_offsets_at(
        &self,
        leader: i32,
        keys: &[PartitionKey],
        spec: OffsetSpec,
    ) -> Result<Vec<ListedOffset>> {
        let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for (topic, partition) in keys {
            topics.entry(topic).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(*partition)
                    .with_timestamp(spec.wire_timestamp()),
            );
        }
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(CONSUMER_REPLICA_ID))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(name, partitions)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(text(name)))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let response = self.client().send_to_broker(leader, &request).await?;
        Ok(listed_offsets(response))
    }
}

fn listed_offsets(response: ListOffsetsResponse) -> Vec<ListedOffset> {
    response
        .topics
        .into_iter()
        .flat_map(|topic| {
            let name = topic.name.0.to_string();
            topic.partitions.into_iter().map(move |p| ListedOffset {
                topic: name.clone(),
                partition: p.partition_index,
                offset: p.offset,
                timestamp_ms: p.timestamp,
                leader_epoch: p.leader_epoch,
                error: ResourceError::from_parts(p.error_code, None),
            })
        })
        .collect()
}
