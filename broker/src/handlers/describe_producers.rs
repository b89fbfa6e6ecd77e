//! DescribeProducers: the idempotent producers writing to each partition
//! (KIP-664), as `kafka-transactions.sh describe-producers` shows them.
//!
//! Sluice has no transactions, so no producer has an open one: the
//! coordinator epoch and the transaction's start offset are always -1.

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use sluice_protocol::ErrorCode;

use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::producer_state::ActiveProducer;

/// Kafka's coordinator epoch of a producer with no transaction.
const NO_COORDINATOR_EPOCH: i32 = -1;
/// Kafka's start offset of a transaction that is not open.
const NO_TRANSACTION_START_OFFSET: i64 = -1;

/// Answers a DescribeProducers request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| describe_partition(ctx.broker, &topic.name, index))
                .collect();
            TopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

fn describe_partition(broker: &Broker, topic: &str, index: i32) -> PartitionResponse {
    let response = PartitionResponse::default().with_partition_index(index);
    let active = broker
        .partition(topic, index)
        .ok_or(ErrorCode::UnknownTopicOrPartition)
        .and_then(|partition| partition.with_state(|s| Ok(s.producers.active_producers())));
    match active {
        Ok(producers) => {
            response.with_active_producers(producers.iter().map(producer_state).collect())
        }
        Err(code) => response.with_error_code(code.code()),
    }
}

fn producer_state(producer: &ActiveProducer) -> ProducerState {
    ProducerState::default()
        .with_producer_id(ProducerId(producer.producer_id))
        .with_producer_epoch(i32::from(producer.producer_epoch))
        .with_last_sequence(producer.last_sequence)
        .with_last_timestamp(producer.last_timestamp)
        .with_coordinator_epoch(NO_COORDINATOR_EPOCH)
        .with_current_txn_start_offset(NO_TRANSACTION_START_OFFSET)
}
