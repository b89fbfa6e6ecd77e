//! The sender task: drains ready batches into Produce requests (one per
//! leader, at most `max.in.flight.requests.per.connection` in flight per
//! broker; for an idempotent producer also at most that many unresolved
//! batches per partition, see [`SequenceTracker::admits`]), applies the retry
//! decisions of [`crate::sequence`], and keeps the idempotent producer id.
//! The only owner of the sequence tracker.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_client::{ClientError, RetryAction, action_for_code, action_for_error};
use sluice_protocol::ErrorCode;

use crate::accumulator::SplitError;
use crate::batch::{BatchIdentity, ProducerBatch};
use crate::config::Acks;
use crate::error::ProducerError;
use crate::record::RecordMetadata;
use crate::sequence::{BatchContext, ProducerIdentity, SequenceTracker, Verdict, decide};
use crate::shared::{Completion, Shared};

type Batch = ProducerBatch<Completion>;

/// Something the sender waited for.
enum Event {
    Produced {
        broker: i32,
        batches: Vec<Batch>,
        result: Result<Option<ProduceResponse>, ClientError>,
    },
    Identity(Result<ProducerIdentity, ClientError>),
    MetadataRefreshed,
}

type Pending = Pin<Box<dyn Future<Output = Event> + Send>>;

/// How often the sender looks at the queues when nothing wakes it (expiry).
const IDLE_POLL_MS: u64 = 100;

pub(crate) struct Sender {
    shared: Arc<Shared>,
    tracker: SequenceTracker,
    in_flight: HashMap<i32, usize>,
    pending: FuturesUnordered<Pending>,
    identity_requested: bool,
    refreshing: bool,
    /// The millisecond of the last expiry pass: deadlines have millisecond
    /// resolution, and the sender may wake many times within one.
    expired_at_ms: Option<u64>,
}

impl Sender {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Sender {
            shared,
            tracker: SequenceTracker::new(),
            in_flight: HashMap::new(),
            pending: FuturesUnordered::new(),
            identity_requested: false,
            refreshing: false,
            expired_at_ms: None,
        }
    }

    fn idempotent(&self) -> bool {
        self.shared.config.enable_idempotence
    }

    /// Runs until the producer is closing and every record is finished.
    pub(crate) async fn run(mut self) {
        loop {
            self.request_identity_if_needed();
            let now = self.shared.now_ms();
            self.expire(now);
            let next_check = self.send_ready(now);
            if self.shared.is_closing() && self.pending.is_empty() && !self.has_queued() {
                break;
            }
            let wait_ms = next_check
                .map_or(IDLE_POLL_MS, |at| at.saturating_sub(now))
                .min(IDLE_POLL_MS);
            tokio::select! {
                biased;
                Some(event) = self.pending.next(), if !self.pending.is_empty() => self.handle(event),
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
            }
        }
        tracing::debug!("producer sender stopped");
    }

    fn has_queued(&self) -> bool {
        self.shared.lock().accumulator.has_queued()
    }

    fn ready_to_send(&self) -> bool {
        !self.idempotent() || self.tracker.identity().is_some()
    }

    fn request_identity_if_needed(&mut self) {
        if !self.idempotent() || self.tracker.identity().is_some() || self.identity_requested {
            return;
        }
        self.identity_requested = true;
        let client = self.shared.client.clone();
        self.pending.push(Box::pin(async move {
            // Idempotence without transactions: no transactional id, and the
            // Java client's "no timeout" value.
            let request = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(i32::MAX)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1);
            let result = client.send_to_any(&request).await.and_then(|response| {
                let code = ErrorCode::from_code(response.error_code);
                if code == ErrorCode::None {
                    Ok(ProducerIdentity {
                        producer_id: response.producer_id.0,
                        producer_epoch: response.producer_epoch,
                    })
                } else {
                    Err(ClientError::broker(code, Some("InitProducerId".to_owned())))
                }
            });
            Event::Identity(result)
        }));
    }

    fn expire(&mut self, now: u64) {
        if self.expired_at_ms == Some(now) {
            return;
        }
        self.expired_at_ms = Some(now);
        let expired = self.shared.lock().accumulator.expire(now);
        for batch in expired {
            let identity = batch.built().map(|(_, identity)| identity);
            if let Some(identity) = identity {
                // A sequence was used for it: the broker will see a gap.
                self.tracker
                    .complete(&batch.topic, batch.partition, identity);
                self.reset_identity("an expired batch left a sequence gap");
            }
            let error = self.delivery_timeout(&batch);
            self.shared.fail_batch(batch, &error);
        }
    }

    fn delivery_timeout(&self, batch: &Batch) -> ProducerError {
        ProducerError::DeliveryTimeout {
            timeout: Duration::from_millis(self.shared.config.delivery_timeout_ms),
            last_error: batch
                .last_error
                .clone()
                .unwrap_or_else(|| "none".to_owned()),
        }
    }

    /// Sends every ready batch whose leader is known and has a free
    /// in-flight slot; returns when to look again.
    fn send_ready(&mut self, now: u64) -> Option<u64> {
        if !self.ready_to_send() {
            return None;
        }
        let readiness = self.shared.lock().accumulator.ready(now);
        let mut requests: HashMap<i32, (Vec<Batch>, usize)> = HashMap::new();
        let mut missing_leader = Vec::new();
        let max_in_flight = self
            .shared
            .config
            .client
            .max_in_flight_requests_per_connection
            .max(1);
        for (topic, partition) in readiness.ready {
            let leader = self.shared.client.with_metadata(|cache| {
                cache
                    .leader_for(&topic, partition)
                    .map(|broker| broker.id)
                    .ok()
            });
            let Some(leader) = leader else {
                missing_leader.push(topic.to_string());
                continue;
            };
            if self.in_flight.get(&leader).copied().unwrap_or(0) >= max_in_flight {
                continue;
            }
            self.add_to_request(&mut requests, leader, &topic, partition, now);
        }
        for (leader, (batches, _)) in requests {
            if !batches.is_empty() {
                self.send_request(leader, batches);
            }
        }
        if !missing_leader.is_empty() {
            self.refresh_metadata(missing_leader);
        }
        readiness.next_check_ms
    }

    fn add_to_request(
        &mut self,
        requests: &mut HashMap<i32, (Vec<Batch>, usize)>,
        leader: i32,
        topic: &Arc<str>,
        partition: i32,
        now: u64,
    ) {
        let max_request_size = self.shared.config.max_request_size;
        let (batches, bytes) = requests.entry(leader).or_default();
        if !batches.is_empty() && *bytes >= max_request_size {
            return;
        }
        let max_in_flight = self
            .shared
            .config
            .client
            .max_in_flight_requests_per_connection;
        let idempotent = self.idempotent();
        let tracker = &self.tracker;
        let mut state = self.shared.lock();
        let drained = state.accumulator.drain_if(topic, partition, now, |head| {
            !idempotent || tracker.admits(topic, partition, head, max_in_flight)
        });
        let Some(mut batch) = drained else {
            return;
        };
        let identity = match batch.built() {
            Some((_, identity)) => identity,
            None => self.tracker.assign(topic, partition, batch.record_count()),
        };
        if !self.tracker.is_current(identity) {
            drop(state);
            let error =
                ProducerError::ProducerReset("batch written under an older producer id".to_owned());
            self.shared.fail_batch(batch, &error);
            return;
        }
        batch.sent_as_oldest = self
            .tracker
            .is_oldest_outstanding(topic, partition, identity);
        match state.accumulator.build(&mut batch, identity) {
            Ok(encoded) => {
                *bytes += encoded.len();
                batches.push(batch);
            }
            Err(error) => {
                drop(state);
                tracing::warn!(%topic, partition, error = &error as &dyn std::error::Error, "cannot encode batch");
                self.tracker.complete(topic, partition, identity);
                if self.idempotent() {
                    self.reset_identity("a batch failed to encode after taking a sequence");
                }
                self.shared.fail_batch(batch, &error);
            }
        }
    }

    fn send_request(&mut self, broker: i32, mut batches: Vec<Batch>) {
        let config = &self.shared.config;
        let acks = config.acks;
        let request = produce_request(&batches, acks, config.client.request_timeout_ms);
        for batch in &mut batches {
            batch.attempts += 1;
        }
        *self.in_flight.entry(broker).or_default() += 1;
        let client = self.shared.client.clone();
        self.pending.push(Box::pin(async move {
            let result = async {
                let connection = client.connection_to(broker).await?;
                if acks == Acks::None {
                    connection
                        .send_without_response(&request)
                        .await
                        .map(|()| None)
                } else {
                    connection.send(&request).await.map(Some)
                }
            }
            .await;
            Event::Produced {
                broker,
                batches,
                result,
            }
        }));
    }

    fn refresh_metadata(&mut self, topics: Vec<String>) {
        if self.refreshing {
            return;
        }
        self.refreshing = true;
        let client = self.shared.client.clone();
        let backoff = Duration::from_millis(self.shared.config.client.retry_backoff_ms);
        self.pending.push(Box::pin(async move {
            if let Err(error) = client.refresh_metadata(Some(&topics)).await {
                tracing::debug!(%error, "metadata refresh for producer failed");
            }
            // Refresh at most once per backoff while leaders are missing.
            tokio::time::sleep(backoff).await;
            Event::MetadataRefreshed
        }));
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::MetadataRefreshed => self.refreshing = false,
            Event::Identity(result) => {
                self.identity_requested = false;
                match result {
                    Ok(identity) => {
                        tracing::debug!(?identity, "producer id assigned");
                        self.tracker.reset(identity);
                    }
                    Err(error) => tracing::warn!(%error, "InitProducerId failed; retrying"),
                }
            }
            Event::Produced {
                broker,
                batches,
                result,
            } => {
                if let Some(count) = self.in_flight.get_mut(&broker) {
                    *count = count.saturating_sub(1);
                }
                self.handle_produced(batches, result);
            }
        }
    }

    fn handle_produced(
        &mut self,
        batches: Vec<Batch>,
        result: Result<Option<ProduceResponse>, ClientError>,
    ) {
        match result {
            Err(error) => {
                if action_for_error(&error) == RetryAction::RefreshMetadata {
                    self.shared.client.invalidate_metadata();
                }
                let reason = error.to_string();
                for batch in batches {
                    self.settle(batch, None, -1, -1, Some(&reason));
                }
            }
            Ok(None) => {
                for batch in batches {
                    self.settle(batch, Some(ErrorCode::None), -1, -1, None);
                }
            }
            Ok(Some(response)) => {
                for batch in batches {
                    let answer = find_partition(&response, &batch);
                    match answer {
                        Some((code, base_offset, append_time, message)) => {
                            if action_for_code(code) == RetryAction::RefreshMetadata {
                                self.shared.client.invalidate_metadata();
                            }
                            self.settle(
                                batch,
                                Some(code),
                                base_offset,
                                append_time,
                                message.as_deref(),
                            );
                        }
                        None => self.settle(
                            batch,
                            None,
                            -1,
                            -1,
                            Some("partition missing from response"),
                        ),
                    }
                }
            }
        }
    }

    /// Applies the verdict for one batch's answer.
    fn settle(
        &mut self,
        mut batch: Batch,
        code: Option<ErrorCode>,
        base_offset: i64,
        append_time: i64,
        message: Option<&str>,
    ) {
        let identity = batch.built().map(|(_, identity)| identity);
        let Some(identity) = identity else {
            // Only built batches are ever sent.
            return;
        };
        let now = self.shared.now_ms();
        let context = BatchContext {
            idempotent: self.idempotent(),
            // Judged as of the send: an earlier batch acknowledged since may
            // have reached the broker after this one.
            oldest_outstanding: batch.sent_as_oldest
                && self
                    .tracker
                    .is_oldest_outstanding(&batch.topic, batch.partition, identity),
            attempts: batch.attempts,
            max_retries: self.shared.config.retries,
            deadline_passed: now >= batch.deadline_ms,
            splittable: batch.record_count() > 1,
        };
        match decide(code, context) {
            Verdict::Delivered { duplicate } => {
                self.tracker
                    .complete(&batch.topic, batch.partition, identity);
                let base_offset = if duplicate { -1 } else { base_offset };
                let topic = batch.topic.clone();
                let partition = batch.partition;
                self.shared.finish_batch(batch, |index, timestamp| {
                    Ok(RecordMetadata {
                        topic: topic.clone(),
                        partition,
                        offset: if base_offset < 0 {
                            -1
                        } else {
                            base_offset + index as i64
                        },
                        timestamp: if append_time >= 0 {
                            append_time
                        } else {
                            timestamp
                        },
                    })
                });
            }
            Verdict::Retry if self.tracker.is_current(identity) => {
                let reason = code.map_or_else(
                    || message.unwrap_or("transport error").to_owned(),
                    |c| c.to_string(),
                );
                tracing::debug!(topic = %batch.topic, partition = batch.partition, attempts = batch.attempts, %reason, "retrying batch");
                batch.last_error = Some(reason);
                let delay = self.backoff_ms(batch.attempts);
                self.shared.lock().accumulator.reenqueue(batch, now + delay);
                self.shared.wake.notify_one();
            }
            Verdict::Retry => {
                let error = ProducerError::ProducerReset(
                    "the batch needed a retry after the producer id changed".to_owned(),
                );
                self.shared.fail_batch(batch, &error);
            }
            Verdict::Split if self.tracker.is_current(identity) => {
                self.split(batch, identity, message);
            }
            Verdict::Split => {
                let error = ProducerError::ProducerReset(
                    "the batch needed splitting after the producer id changed".to_owned(),
                );
                self.shared.fail_batch(batch, &error);
            }
            Verdict::Fail(code) => {
                self.fail_for_good(batch, identity, code, message, context.deadline_passed);
            }
            Verdict::FailAndReset(code) => {
                if self.tracker.is_current(identity) {
                    self.reset_identity("broker and producer sequence state disagree");
                }
                let error = self.failure(&batch, code, message, false);
                self.shared.fail_batch(batch, &error);
            }
        }
    }

    /// Sends a batch the broker found too large again in smaller pieces
    /// (see [`crate::Accumulator::split`]); fails it if it cannot be split.
    fn split(&mut self, batch: Batch, identity: BatchIdentity, message: Option<&str>) {
        let (topic, partition, records) =
            (batch.topic.clone(), batch.partition, batch.record_count());
        let mut state = self.shared.lock();
        match state.accumulator.split(batch) {
            Ok(pieces) => {
                tracing::info!(%topic, partition, records, pieces = pieces.len(), "batch too large for the topic; sending it in pieces");
                let identities: Vec<BatchIdentity> = pieces
                    .iter()
                    .filter_map(|piece| piece.built().map(|(_, identity)| identity))
                    .collect();
                self.tracker.split(&topic, partition, identity, &identities);
                for piece in pieces {
                    let retry_at_ms = piece.retry_at_ms;
                    state.accumulator.reenqueue(piece, retry_at_ms);
                }
                drop(state);
                self.shared.wake.notify_one();
            }
            Err(SplitError { error, batch }) => {
                drop(state);
                tracing::warn!(
                    %topic,
                    partition,
                    error = &error as &dyn std::error::Error,
                    "cannot split a batch the broker found too large"
                );
                self.fail_for_good(*batch, identity, ErrorCode::MessageTooLarge, message, false);
            }
        }
    }

    /// Fails a batch's records for good: its sequence is done with, and an
    /// idempotent producer starts over under a new id (the broker will see
    /// a gap in the partition's sequences).
    fn fail_for_good(
        &mut self,
        batch: Batch,
        identity: BatchIdentity,
        code: ErrorCode,
        message: Option<&str>,
        timed_out: bool,
    ) {
        self.tracker
            .complete(&batch.topic, batch.partition, identity);
        if self.idempotent() && self.tracker.is_current(identity) {
            self.reset_identity("a batch failed after taking a sequence");
        }
        let error = self.failure(&batch, code, message, timed_out);
        self.shared.fail_batch(batch, &error);
    }

    fn failure(
        &self,
        batch: &Batch,
        code: ErrorCode,
        message: Option<&str>,
        timed_out: bool,
    ) -> ProducerError {
        if timed_out {
            return ProducerError::DeliveryTimeout {
                timeout: Duration::from_millis(self.shared.config.delivery_timeout_ms),
                last_error: message.map_or_else(|| code.to_string(), str::to_owned),
            };
        }
        ProducerError::Broker {
            topic: batch.topic.to_string(),
            partition: batch.partition,
            code,
            message: message.map(str::to_owned),
        }
    }

    /// Forgets the producer id so the next loop asks for a new one; batches
    /// built under the old id fail instead of being resent.
    fn reset_identity(&mut self, reason: &str) {
        if self.tracker.identity().is_some() {
            tracing::warn!(reason, "resetting idempotent producer id");
        }
        self.tracker = SequenceTracker::new();
    }

    fn backoff_ms(&self, attempts: u32) -> u64 {
        let client = &self.shared.config.client;
        let exponent = attempts.saturating_sub(1).min(16);
        client
            .retry_backoff_ms
            .saturating_mul(1 << exponent)
            .min(client.retry_backoff_max_ms.max(client.retry_backoff_ms))
    }
}

/// One Produce request carrying one batch per partition, grouped by topic.
fn produce_request(batches: &[Batch], acks: Acks, timeout_ms: u64) -> ProduceRequest {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for batch in batches {
        let Some((bytes, _)) = batch.built() else {
            continue;
        };
        let data = PartitionProduceData::default()
            .with_index(batch.partition)
            .with_records(Some(bytes.clone()));
        match topics
            .iter_mut()
            .find(|topic| *topic.name.0 == *batch.topic)
        {
            Some(topic) => topic.partition_data.push(data),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(batch.topic.to_string())))
                    .with_partition_data(vec![data]),
            ),
        }
    }
    ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(acks.wire_value())
        .with_timeout_ms(i32::try_from(timeout_ms).unwrap_or(i32::MAX))
        .with_topic_data(topics)
}

/// The response entry for `batch`: code, base offset, log append time, message.
fn find_partition(
    response: &ProduceResponse,
    batch: &Batch,
) -> Option<(ErrorCode, i64, i64, Option<String>)> {
    response
        .responses
        .iter()
        .filter(|topic| *topic.name.0 == *batch.topic)
        .flat_map(|topic| topic.partition_responses.iter())
        .find(|partition| partition.index == batch.partition)
        .map(|partition| {
            (
                ErrorCode::from_code(partition.error_code),
                partition.base_offset,
                partition.log_append_time_ms,
                partition.error_message.as_ref().map(|m| m.to_string()),
            )
        })
}
