//! DeleteRecords: move a partition's log start offset forward.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use sluice_protocol::ErrorCode;

use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::partition::storage_error_code;

/// "Delete up to the high watermark" in a DeleteRecords request.
const HIGH_WATERMARK: i64 = -1;

/// Answers a DeleteRecords request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let broker = ctx.broker;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let response = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    match delete(broker, &topic.name, p.partition_index, p.offset) {
                        Ok(low_watermark) => response.with_low_watermark(low_watermark),
                        Err(code) => response.with_error_code(code.code()).with_low_watermark(-1),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

fn delete(broker: &Broker, topic: &str, index: i32, offset: i64) -> Result<i64, ErrorCode> {
    let partition = broker
        .partition(topic, index)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    partition.with_state(|state| {
        let high_watermark = state.log.high_watermark();
        let target = if offset == HIGH_WATERMARK {
            high_watermark
        } else {
            offset
        };
        if target < 0 || target > high_watermark {
            return Err(ErrorCode::OffsetOutOfRange);
        }
        state
            .log
            .delete_records_before(target)
            .map_err(|e| storage_error_code(&e))
    })
}
