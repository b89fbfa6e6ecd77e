//! A producer actor: sends records (paced when a rate is set) until its
//! share of records is sent or the deadline passes, and records each
//! acknowledgement with its send-to-ack latency.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sluice_producer::{DeliveryFuture, Producer, ProducerRecord};
use tokio::sync::mpsc;

use super::SharedRecorder;
use crate::pacer::Pacer;
use crate::payload::Payload;

/// What one producer actor sends.
#[derive(Debug, Clone)]
pub(crate) struct ProducerPlan {
    /// Destination topic.
    pub(crate) topic: String,
    /// Records to send; `None` means until the deadline.
    pub(crate) records: Option<u64>,
    /// Stop sending at this instant.
    pub(crate) deadline: Option<Instant>,
    /// This actor's share of the `--throughput` cap.
    pub(crate) records_per_sec: Option<f64>,
    /// The values.
    pub(crate) payload: Arc<Payload>,
    /// Stamp the send time into each value (e2e).
    pub(crate) stamp: bool,
}

/// A delivery in flight: when it was sent and how many bytes it carries.
type InFlight = (Instant, u64, DeliveryFuture);

/// Sends per `plan`, then flushes; returns the records handed to the
/// producer. Acknowledgements are recorded by a companion task so a slow
/// acknowledgement never delays the next send.
pub(crate) async fn run(producer: Producer, plan: ProducerPlan, recorder: SharedRecorder) -> u64 {
    let (in_flight_tx, in_flight_rx) = mpsc::unbounded_channel();
    let completer = tokio::spawn(complete(in_flight_rx, recorder.clone()));
    let pacer = Pacer::new(plan.records_per_sec);
    let started = Instant::now();
    let mut sent = 0u64;
    while plan.records.is_none_or(|records| sent < records) {
        if plan
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            break;
        }
        let wait = pacer.wait_before(sent, started.elapsed());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let value = if plan.stamp {
            plan.payload.stamped_value(sent)
        } else {
            plan.payload.value(sent)
        };
        let bytes = value.len() as u64;
        let sent_at = Instant::now();
        match producer
            .enqueue(ProducerRecord::new(&plan.topic, value))
            .await
        {
            Ok(delivery) => {
                // The completer ends only after this sender drops.
                let _ = in_flight_tx.send((sent_at, bytes, delivery));
            }
            Err(error) => {
                tracing::warn!(%error, "bench record not enqueued");
                recorder.lock().record_errors(1);
            }
        }
        sent += 1;
    }
    drop(in_flight_tx);
    producer.flush().await;
    if let Err(error) = completer.await {
        tracing::warn!(%error, "bench acknowledgement task failed");
    }
    producer.close().await;
    sent
}

/// Awaits deliveries in any order and records each outcome.
async fn complete(mut in_flight: mpsc::UnboundedReceiver<InFlight>, recorder: SharedRecorder) {
    let mut pending = FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            next = in_flight.recv(), if open => match next {
                Some((sent_at, bytes, delivery)) => pending.push(async move {
                    let outcome = delivery.await;
                    (sent_at, bytes, outcome, Instant::now())
                }),
                None => open = false,
            },
            Some((sent_at, bytes, outcome, acked_at)) = pending.next(), if !pending.is_empty() => {
                let mut recorder_guard = recorder.lock();
                match outcome {
                    Ok(_) => recorder_guard.record(
                        acked_at.duration_since(recorder.started()),
                        bytes,
                        Some(acked_at.duration_since(sent_at)),
                    ),
                    Err(error) => {
                        tracing::debug!(%error, "bench record failed");
                        recorder_guard.record_errors(1);
                    }
                }
            }
            else => break,
        }
    }
}
