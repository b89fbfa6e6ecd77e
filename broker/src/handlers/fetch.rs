//! Fetch: read below the high watermark, long-polling until `min_bytes`.
//!
//! A fetch that finds fewer than `min_bytes` waits for an append (a watch
//! channel the produce path bumps), for `max_wait_ms`, or for shutdown,
//! whichever comes first, then reads again. Responses respect `max_bytes`
//! (capped by `fetch.max.bytes`) and each partition's `partition_max_bytes`;
//! storage returns at least one whole batch when a read starts empty (KIP-74).
//! Fetch sessions (KIP-227) are not kept: every response carries session id 0,
//! which tells clients to send full fetch requests.

use std::time::Duration;

use kafka_protocol::messages::fetch_request::FetchTopic;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use sluice_protocol::ErrorCode;
use tokio::time::Instant;

use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::topics::TopicMeta;

/// The first Fetch version that names topics by id.
const TOPIC_ID_VERSION: i16 = 13;

/// Answers a Fetch request, waiting up to `max_wait_ms` for `min_bytes`.
pub async fn handle(ctx: &RequestContext<'_>, request: FetchRequest) -> FetchResponse {
    let broker = ctx.broker;
    let wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let mut appends: Vec<_> = append_shards(broker, &request, ctx.version())
        .into_iter()
        .map(|shard| broker.subscribe_appends(shard))
        .collect();
    let mut closing = broker.subscribe_closing();
    loop {
        for receiver in &mut appends {
            receiver.borrow_and_update();
        }
        let read = read_all(broker, &request, ctx.version());
        let done = read.bytes >= min_bytes
            || read.has_error
            || Instant::now() >= deadline
            || *closing.borrow();
        if done {
            return FetchResponse::default().with_responses(read.responses);
        }
        let appended = async {
            if appends.is_empty() {
                std::future::pending::<()>().await;
            } else {
                let changes = appends.iter_mut().map(|r| Box::pin(r.changed()));
                let _ = futures::future::select_all(changes).await;
            }
        };
        tokio::select! {
            () = appended => {}
            _ = closing.changed() => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// The append-notification shards of the partitions `request` reads
/// (unknown topics have none: they answer at once anyway).
fn append_shards(broker: &Broker, request: &FetchRequest, version: i16) -> Vec<usize> {
    let mut shards: Vec<usize> = request
        .topics
        .iter()
        .filter_map(|topic| topic_meta(broker, topic, version).map(|meta| (meta, topic)))
        .flat_map(|(meta, topic)| {
            topic
                .partitions
                .iter()
                .map(move |p| crate::broker::append_shard(&meta.name, p.partition))
        })
        .collect();
    shards.sort_unstable();
    shards.dedup();
    shards
}

/// The topic a fetch names: by id from v13 on, by name before.
fn topic_meta(broker: &Broker, topic: &FetchTopic, version: i16) -> Option<TopicMeta> {
    if version >= TOPIC_ID_VERSION {
        broker.topic_by_id(topic.topic_id)
    } else {
        broker.topic(&topic.topic)
    }
}

struct ReadResult {
    responses: Vec<FetchableTopicResponse>,
    bytes: usize,
    has_error: bool,
}

fn read_all(broker: &Broker, request: &FetchRequest, version: i16) -> ReadResult {
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(broker.config().fetch_max_bytes);
    let mut result = ReadResult {
        responses: Vec::with_capacity(request.topics.len()),
        bytes: 0,
        has_error: false,
    };
    for topic in &request.topics {
        let meta = topic_meta(broker, topic, version);
        let unknown = if version >= TOPIC_ID_VERSION {
            ErrorCode::UnknownTopicId
        } else {
            ErrorCode::UnknownTopicOrPartition
        };
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                let budget = max_bytes.saturating_sub(result.bytes);
                let limit = usize::try_from(p.partition_max_bytes)
                    .unwrap_or(0)
                    .min(budget);
                let mut data = read_partition(
                    broker,
                    meta.as_ref(),
                    p.partition,
                    p.fetch_offset,
                    limit,
                    unknown,
                );
                if version < 5 {
                    // log_start_offset exists from v5 on.
                    data.log_start_offset = -1;
                }
                result.bytes += data.records.as_ref().map_or(0, bytes::Bytes::len);
                result.has_error |= data.error_code != ErrorCode::None.code();
                data
            })
            .collect();
        result.responses.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    result
}

fn read_partition(
    broker: &Broker,
    topic: Option<&TopicMeta>,
    index: i32,
    fetch_offset: i64,
    max_bytes: usize,
    unknown: ErrorCode,
) -> PartitionData {
    let response = PartitionData::default().with_partition_index(index);
    let partition = topic.and_then(|t| broker.partition(&t.name, index));
    let Some(partition) = partition else {
        return failed(response, unknown);
    };
    match partition.read(fetch_offset, max_bytes) {
        Ok(read) => response
            .with_high_watermark(read.high_watermark)
            .with_last_stable_offset(read.high_watermark)
            .with_log_start_offset(read.log_start_offset)
            .with_records(Some(read.records)),
        Err(code) => failed(response, code),
    }
}

fn failed(response: PartitionData, code: ErrorCode) -> PartitionData {
    response
        .with_error_code(code.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(bytes::Bytes::new()))
}
