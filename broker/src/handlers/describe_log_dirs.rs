//! DescribeLogDirs: the data directory, the size of each partition's log in
//! it and, from v4 (KIP-827), the size and free space of its filesystem.
//!
//! Sluice has one data directory, so the answer holds one result. As in
//! Kafka, a null topic list means every partition, and requested partitions
//! that do not exist are left out rather than reported as errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use sluice_storage::{DiskSpace, disk_space};
use tracing::warn;

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

/// Kafka's "unknown" for the filesystem sizes.
const UNKNOWN_BYTES: i64 = -1;

/// The first version that reports the filesystem's total and usable bytes.
const FIRST_VERSION_WITH_DISK_SPACE: i16 = 4;

/// Answers a DescribeLogDirs request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let broker = ctx.broker;
    let log_dir = absolute_data_dir(broker);
    let wanted = match request.topics {
        None => every_partition(broker),
        Some(topics) => {
            // Kafka takes the request as a set of partitions: repeats merge.
            let mut wanted = BTreeMap::<String, BTreeSet<i32>>::new();
            for topic in topics {
                wanted
                    .entry(topic.topic.to_string())
                    .or_default()
                    .extend(topic.partitions);
            }
            wanted
        }
    };
    let topics = wanted
        .into_iter()
        .filter_map(|(name, partitions)| describe_topic(broker, &name, &partitions))
        .collect();
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(&log_dir.to_string_lossy()))
        .with_topics(topics);
    if ctx.version() >= FIRST_VERSION_WITH_DISK_SPACE {
        let (total_bytes, usable_bytes) = space_of(&log_dir);
        result = result
            .with_total_bytes(total_bytes)
            .with_usable_bytes(usable_bytes);
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}

/// The data directory as an absolute path, the way Kafka names its log dirs.
fn absolute_data_dir(broker: &Broker) -> PathBuf {
    let data_dir = &broker.config().data_dir;
    std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.clone())
}

/// Every topic with all of its partition ids, by name.
fn every_partition(broker: &Broker) -> BTreeMap<String, BTreeSet<i32>> {
    broker
        .topics()
        .into_iter()
        .map(|t| (t.name, (0..t.partitions).collect()))
        .collect()
}

/// The sizes of the open partitions among `partitions`, or `None` when the
/// topic has none here (Kafka then leaves the topic out).
fn describe_topic(
    broker: &Broker,
    name: &str,
    partitions: &BTreeSet<i32>,
) -> Option<DescribeLogDirsTopic> {
    let described: Vec<_> = partitions
        .iter()
        .filter_map(|&index| {
            let partition = broker.partition(name, index)?;
            let size_bytes = partition.with_state(|s| Ok(s.log.size_bytes())).ok()?;
            Some(
                DescribeLogDirsPartition::default()
                    .with_partition_index(index)
                    .with_partition_size(i64::try_from(size_bytes).unwrap_or(i64::MAX))
                    .with_offset_lag(0)
                    .with_is_future_key(false),
            )
        })
        .collect();
    (!described.is_empty()).then(|| {
        DescribeLogDirsTopic::default()
            .with_name(TopicName(str_bytes(name)))
            .with_partitions(described)
    })
}

/// (total, usable) bytes of the filesystem under `log_dir`, or Kafka's -1
/// for both when it cannot be examined.
fn space_of(log_dir: &std::path::Path) -> (i64, i64) {
    match disk_space(log_dir) {
        Ok(DiskSpace {
            total_bytes,
            usable_bytes,
        }) => (
            i64::try_from(total_bytes).unwrap_or(i64::MAX),
            i64::try_from(usable_bytes).unwrap_or(i64::MAX),
        ),
        Err(error) => {
            warn!(%error, "cannot read the data directory's disk space");
            (UNKNOWN_BYTES, UNKNOWN_BYTES)
        }
    }
}
