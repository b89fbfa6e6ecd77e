//! Fetch requests: the assigned partitions grouped by leader, one Fetch
//! (v4..=v12, topics by name) per leader, each on its own task so a slow
//! broker does not hold up the others and the next fetch runs while the
//! application processes the last one.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_client::Client;
use sluice_protocol::ErrorCode;

use crate::config::ConsumerConfig;
use crate::error::Result;
use crate::partition::TopicPartition;

/// A consumer's replica id in Fetch (not a follower).
const CONSUMER_REPLICA_ID: i32 = -1;
/// Kafka's `read_uncommitted`: every record below the high watermark.
const READ_UNCOMMITTED: i8 = 0;

/// Fetch settings copied from the config once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchSettings {
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
}

impl From<&ConsumerConfig> for FetchSettings {
    fn from(config: &ConsumerConfig) -> Self {
        FetchSettings {
            max_wait_ms: config.fetch_max_wait_ms,
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes,
            partition_max_bytes: config.max_partition_fetch_bytes,
        }
    }
}

/// One partition's part of a fetch response.
#[derive(Debug)]
pub(crate) struct FetchedPartition {
    pub(crate) partition: TopicPartition,
    pub(crate) fetch_offset: i64,
    pub(crate) error: ErrorCode,
    pub(crate) records: Bytes,
}

/// What one fetch task reports: the partitions it asked for (so their
/// in-flight marks can be cleared) and the answer.
#[derive(Debug)]
pub(crate) struct FetchOutcome {
    pub(crate) requested: Vec<(TopicPartition, i64)>,
    pub(crate) result: Result<Vec<FetchedPartition>>,
}

/// Partitions to fetch, with their offsets, by leader broker id.
pub(crate) type FetchPlan = BTreeMap<i32, Vec<(TopicPartition, i64)>>;

/// Groups `fetchable` partitions by their leader's broker id; partitions
/// without a known leader are returned apart (metadata needs a refresh).
pub(crate) fn by_leader(
    client: &Client,
    fetchable: Vec<(TopicPartition, i64)>,
) -> (FetchPlan, Vec<TopicPartition>) {
    let mut leaders = FetchPlan::new();
    let mut leaderless = Vec::new();
    client.with_metadata(|cache| {
        for (tp, offset) in fetchable {
            match cache.leader_for(&tp.topic, tp.partition) {
                Ok(leader) => leaders.entry(leader.id).or_default().push((tp, offset)),
                Err(_) => leaderless.push(tp),
            }
        }
    });
    (leaders, leaderless)
}

fn request(settings: FetchSettings, partitions: &[(TopicPartition, i64)]) -> FetchRequest {
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for (tp, offset) in partitions {
        topics.entry(&tp.topic).or_default().push(
            FetchPartition::default()
                .with_partition(tp.partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(*offset)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(settings.partition_max_bytes),
        );
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(CONSUMER_REPLICA_ID))
        .with_max_wait_ms(settings.max_wait_ms)
        .with_min_bytes(settings.min_bytes)
        .with_max_bytes(settings.max_bytes)
        .with_isolation_level(READ_UNCOMMITTED)
        .with_session_epoch(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                        .with_partitions(partitions)
                })
                .collect(),
        )
}

/// Sends one Fetch to `leader` for `partitions` (no retries: the next poll
/// fetches again after any error).
pub(crate) async fn fetch(
    client: Client,
    leader: i32,
    settings: FetchSettings,
    partitions: Vec<(TopicPartition, i64)>,
) -> FetchOutcome {
    let result = fetch_once(&client, leader, settings, &partitions).await;
    FetchOutcome {
        requested: partitions,
        result,
    }
}

async fn fetch_once(
    client: &Client,
    leader: i32,
    settings: FetchSettings,
    partitions: &[(TopicPartition, i64)],
) -> Result<Vec<FetchedPartition>> {
    let request = request(settings, partitions);
    let response = client.send_to_broker(leader, &request).await?;
    let top_level = ErrorCode::from_code(response.error_code);
    let offsets: BTreeMap<(&str, i32), (&TopicPartition, i64)> = partitions
        .iter()
        .map(|(tp, o)| ((&*tp.topic, tp.partition), (tp, *o)))
        .collect();
    let mut fetched = Vec::new();
    for topic in response.responses {
        for data in topic.partitions {
            let Some(&(tp, fetch_offset)) =
                offsets.get(&(topic.topic.0.as_str(), data.partition_index))
            else {
                continue;
            };
            let code = ErrorCode::from_code(data.error_code);
            fetched.push(FetchedPartition {
                partition: TopicPartition {
                    topic: Arc::clone(&tp.topic),
                    partition: tp.partition,
                },
                fetch_offset,
                error: if code == ErrorCode::None {
                    top_level
                } else {
                    code
                },
                records: data.records.unwrap_or_default(),
            });
        }
    }
    Ok(fetched)
}
