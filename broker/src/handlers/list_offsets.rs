//! ListOffsets: earliest, latest, by timestamp and max timestamp.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use sluice_protocol::ErrorCode;

use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::partition::{LEADER_EPOCH, storage_error_code};

/// Kafka's special timestamps in a ListOffsets request.
mod special {
    pub const LATEST: i64 = -1;
    pub const EARLIEST: i64 = -2;
    pub const MAX_TIMESTAMP: i64 = -3;
    pub const EARLIEST_LOCAL: i64 = -4;
    pub const LATEST_TIERED: i64 = -5;
}

/// A found offset and the timestamp that located it (-1 for "none").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    timestamp: i64,
    offset: i64,
}

const NOT_FOUND: Found = Found {
    timestamp: -1,
    offset: -1,
};

/// Answers a ListOffsets request.
pub async fn handle(ctx: &RequestContext<'_>, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let broker = ctx.broker;
    // The leader epoch field exists from v4 on.
    let leader_epoch = if ctx.version() >= 4 { LEADER_EPOCH } else { -1 };
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_leader_epoch(leader_epoch);
                    match lookup(broker, &topic.name, p.partition_index, p.timestamp) {
                        Ok(found) => response
                            .with_timestamp(found.timestamp)
                            .with_offset(found.offset),
                        Err(code) => response
                            .with_error_code(code.code())
                            .with_timestamp(-1)
                            .with_offset(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn lookup(broker: &Broker, topic: &str, index: i32, timestamp: i64) -> Result<Found, ErrorCode> {
    let partition = broker
        .partition(topic, index)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    partition.with_state(|state| {
        let log = &state.log;
        let at = |offset| Found {
            timestamp: -1,
            offset,
        };
        let found = match timestamp {
            special::LATEST => at(log.high_watermark()),
            special::EARLIEST | special::EARLIEST_LOCAL => at(log.log_start_offset()),
            special::LATEST_TIERED => NOT_FOUND,
            special::MAX_TIMESTAMP => log
                .max_timestamp()
                .map_err(|e| storage_error_code(&e))?
                .map_or(NOT_FOUND, |t| Found {
                    timestamp: t.timestamp,
                    offset: t.offset,
                }),
            t if t >= 0 => log
                .offset_for_timestamp(t)
                .map_err(|e| storage_error_code(&e))?
                .filter(|t| t.offset < log.high_watermark())
                .map_or(NOT_FOUND, |t| Found {
                    timestamp: t.timestamp,
                    offset: t.offset,
                }),
            _ => return Err(ErrorCode::InvalidRequest),
        };
        Ok(found)
    })
}
