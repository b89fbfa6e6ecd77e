//! Produce: validate batches, check idempotent sequences, append.
//!
//! acks=0 requests are processed but get no response; acks=1 and acks=-1 are
//! answered once the append is in the log (on one node the in-sync replica set
//! is this node, so -1 means "appended under the flush policy"). Appends are
//! page-cache writes and run in place; only requests for topics with a flush
//! policy (`flush.messages`/`flush.ms`, which call `fsync`) go to the blocking
//! pool.

use std::sync::Arc;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use sluice_protocol::ErrorCode;
use tracing::{debug, warn};

use crate::broker::{Broker, now_ms};
use crate::dispatch::RequestContext;
use crate::partition::AppendOutcome;
use crate::validation::validate_records;

/// Answers a Produce request; `None` for acks=0.
pub async fn handle(ctx: &RequestContext<'_>, request: ProduceRequest) -> Option<ProduceResponse> {
    let acks = request.acks;
    let skeleton = error_response(&request, ErrorCode::UnknownServerError);
    let response = if !matches!(acks, -1..=1) {
        error_response(&request, ErrorCode::InvalidRequiredAcks)
    } else if may_fsync(ctx.broker, &request) {
        let broker = Arc::clone(ctx.broker);
        let version = ctx.version();
        tokio::task::spawn_blocking(move || produce(&broker, request, version))
            .await
            .unwrap_or_else(|join_error| {
                warn!(%join_error, "produce task failed");
                skeleton
            })
    } else {
        // Page-cache writes only (rolled segments are synced in the
        // background): cheaper in place than two thread hand-offs, which
        // set the pace of a producer waiting on its in-flight requests.
        produce(ctx.broker, request, ctx.version())
    };
    (acks != 0).then_some(response)
}

/// Whether appending `request` may call `fsync`: a topic with a flush
/// policy (`flush.messages`/`flush.ms`) set.
fn may_fsync(broker: &Broker, request: &ProduceRequest) -> bool {
    request.topic_data.iter().any(|topic| {
        broker
            .topic(&topic.name)
            .and_then(|meta| broker.log_config_for(&meta.configs).ok())
            .is_some_and(|config| {
                config.flush_interval_messages != i64::MAX || config.flush_interval_ms != i64::MAX
            })
    })
}

fn produce(broker: &Broker, request: ProduceRequest, version: i16) -> ProduceResponse {
    let responses = request
        .topic_data
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partition_data
                .into_iter()
                .map(|data| {
                    let mut result =
                        append_partition(broker, &topic.name, data.index, data.records);
                    if let Ok(outcome) = &mut result
                        && version < 5
                    {
                        // log_start_offset exists from v5 on.
                        outcome.log_start_offset = -1;
                    }
                    if result.is_ok() {
                        broker.notify_appended(&topic.name, data.index);
                    }
                    partition_response(data.index, result)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions)
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}

fn append_partition(
    broker: &Broker,
    topic_name: &TopicName,
    index: i32,
    records: Option<bytes::Bytes>,
) -> Result<AppendOutcome, ErrorCode> {
    let topic = broker
        .topic(topic_name)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    if topic.internal {
        // Clients may not write to internal topics (Kafka answers the same).
        return Err(ErrorCode::InvalidTopicException);
    }
    let partition = broker
        .partition(&topic.name, index)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    let records = records.ok_or(ErrorCode::CorruptMessage)?;
    let max_batch_bytes = broker.log_config_for(&topic.configs)?.max_message_bytes;
    let max_batch_bytes = usize::try_from(max_batch_bytes).unwrap_or(usize::MAX);
    let batches = validate_records(
        &records,
        max_batch_bytes,
        broker.config().socket_request_max_bytes,
    )
    .inspect_err(
        |code| debug!(topic = %topic.name, partition = index, %code, "produce rejected"),
    )?;
    partition.append(&records, &batches, now_ms())
}

fn partition_response(
    index: i32,
    result: Result<AppendOutcome, ErrorCode>,
) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default().with_index(index);
    match result {
        Ok(outcome) => response
            .with_base_offset(outcome.base_offset)
            .with_log_append_time_ms(outcome.log_append_time_ms)
            .with_log_start_offset(outcome.log_start_offset),
        Err(code) => response
            .with_error_code(code.code())
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1),
    }
}

fn error_response(request: &ProduceRequest, code: ErrorCode) -> ProduceResponse {
    let responses = request
        .topic_data
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_data
                .iter()
                .map(|data| partition_response(data.index, Err(code)))
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(partitions)
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}
