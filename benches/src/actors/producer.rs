//! A producer actor: sends records (paced when a rate is set) until its
//! share of records is sent or the deadline passes, and records each
//! acknowledgement with its send-to-ack latency.
//!
//! Acknowledgements arrive through one shared [`DeliveryCallback`] with the
//! send time and size packed into each record's token, so the actor
//! measures every record without a channel or a future per record (which
//! would cost more than the producer itself at a million records/s).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_producer::{DeliveryCallback, Producer, ProducerRecord, RecordMetadata};

use super::{SharedRecorder, for_each_run};
use crate::pacer::Pacer;
use crate::payload::{Payload, now_micros};

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

/// Records sent between two looks at the clock (deadline, pacing).
const MAX_BURST: u64 = 64;

/// Bursts appended between two turns of the sender and the connections
/// when the producer runs flat out: 256 records of 100 bytes fill a default
/// 16 KiB batch.
const BURSTS_PER_YIELD: u32 = 4;

/// The same for a paced producer, which lets the sender run whenever it
/// waits for its next records to fall due (every millisecond or so: the
/// timer's granularity): only a catch-up longer than this many bursts
/// yields in between. Each turn of the sender with `linger.ms` 0 sends what
/// it finds, so yielding every few bursts of a catch-up made three times as
/// many requests, and each costs a wake-up of the broker, of the consumers
/// it answers and of this thread for the acknowledgement.
const PACED_BURSTS_PER_YIELD: u32 = 64;

/// Sends per `plan`, then flushes; returns the records handed to the
/// producer. Every record's outcome is recorded before this returns.
pub(crate) async fn run(producer: Producer, plan: ProducerPlan, recorder: SharedRecorder) -> u64 {
    let callback: Arc<dyn DeliveryCallback> = Arc::new(AckRecorder {
        recorder: recorder.clone(),
    });
    // Unstamped values repeat: build their records once.
    let templates: Vec<ProducerRecord> = if plan.stamp {
        Vec::new()
    } else {
        (0..plan.payload.variants() as u64)
            .map(|index| ProducerRecord::new(&plan.topic, plan.payload.value(index)))
            .collect()
    };
    // Stamped values differ per record: one reusable record per burst slot.
    let mut stamped: Vec<ProducerRecord> = if plan.stamp {
        (0..MAX_BURST)
            .map(|_| ProducerRecord::new(&plan.topic, bytes::Bytes::new()))
            .collect()
    } else {
        Vec::new()
    };
    let pacer = Pacer::new(plan.records_per_sec);
    let started = Instant::now();
    let deadline = plan
        .deadline
        .map(|at| at.saturating_duration_since(started));
    let mut sent = 0u64;
    let bursts_per_yield = if plan.records_per_sec.is_some() {
        PACED_BURSTS_PER_YIELD
    } else {
        BURSTS_PER_YIELD
    };
    let mut bursts_since_yield = 0;
    loop {
        // One look at each clock per burst: a burst's records are appended
        // within microseconds of each other, and stamping them all with its
        // start errs on the side of longer latencies.
        let now = Instant::now();
        let elapsed = now.duration_since(started);
        if deadline.is_some_and(|deadline| elapsed >= deadline) {
            break;
        }
        let mut burst_end = sent + MAX_BURST;
        if let Some(due) = pacer.due_by(elapsed) {
            if due <= sent {
                bursts_since_yield = 0;
                tokio::time::sleep(pacer.wait_before(sent, elapsed)).await;
                continue;
            }
            burst_end = burst_end.min(due);
        }
        if let Some(records) = plan.records {
            burst_end = burst_end.min(records);
        }
        if sent >= burst_end {
            break;
        }
        let send_time = now.duration_since(recorder.started());
        let token = |record: &ProducerRecord| {
            pack_token(
                send_time,
                record.value.as_ref().map_or(0, bytes::Bytes::len),
            )
        };
        let burst = (burst_end - sent) as usize;
        // The whole burst goes to the producer in one call: one turn of its
        // lock and one clock reading for all of it.
        let appended = if plan.stamp {
            let stamp_us = now_micros();
            // The create time is the stamp's: the producer need not read
            // the clock.
            let timestamp = Some(i64::try_from(stamp_us / 1000).unwrap_or(i64::MAX));
            for (offset, record) in stamped[..burst].iter_mut().enumerate() {
                // The producer copied the last value into its batch and let
                // go of it: take the buffer back.
                let mut value = record
                    .value
                    .take()
                    .and_then(|value| value.try_into_mut().ok())
                    .unwrap_or_default();
                plan.payload
                    .stamp_into(sent + offset as u64, stamp_us, &mut value);
                record.value = Some(value.freeze());
                record.timestamp = timestamp;
            }
            let records = stamped[..burst]
                .iter()
                .map(|record| (record, token(record)));
            producer.send_all_with_callback(records, &callback).await
        } else {
            let records = (sent..burst_end).map(|sequence| {
                let record = &templates[(sequence % templates.len() as u64) as usize];
                (record, token(record))
            });
            producer.send_all_with_callback(records, &callback).await
        };
        if let Err(error) = appended {
            tracing::warn!(%error, "bench records not enqueued");
            let refused = burst - error.appended;
            recorder.lock().record_errors(refused as u64);
        }
        sent = burst_end;
        // Appends that find room complete without awaiting anything: let
        // the sender and the connections on this thread run every few
        // bursts, or a catching-up sender starves them. Not after every
        // burst: with `linger.ms` 0 each turn of the sender sends what it
        // finds, and bursts of 64 small records made requests of 6 KiB.
        bursts_since_yield += 1;
        if bursts_since_yield >= bursts_per_yield {
            bursts_since_yield = 0;
            tokio::task::yield_now().await;
        }
    }
    producer.flush().await;
    producer.close().await;
    sent
}

/// Low bits of a token: the value's size (values are far below 16 MiB:
/// brokers cap requests at about 1 MiB by default).
const SIZE_BITS: u32 = 24;
const SIZE_MASK: u64 = (1 << SIZE_BITS) - 1;

/// A record's token: its send time (µs since the run started) and its size.
fn pack_token(sent: Duration, bytes: usize) -> u64 {
    let micros = u64::try_from(sent.as_micros()).unwrap_or(u64::MAX >> SIZE_BITS);
    (micros << SIZE_BITS) | (bytes as u64).min(SIZE_MASK)
}

fn unpack_token(token: u64) -> (Duration, u64) {
    (Duration::from_micros(token >> SIZE_BITS), token & SIZE_MASK)
}

/// Records each acknowledgement with its send-to-ack latency.
struct AckRecorder {
    recorder: SharedRecorder,
}

impl DeliveryCallback for AckRecorder {
    fn on_delivery(&self, token: u64, outcome: sluice_producer::Result<RecordMetadata>) {
        self.on_deliveries(&mut std::iter::once((token, outcome)));
    }

    /// One clock read and one lock per batch, and one histogram update per
    /// run of records with the same token (a burst's records share their
    /// send time and size, so their latencies are equal).
    fn on_deliveries(
        &self,
        deliveries: &mut dyn Iterator<Item = (u64, sluice_producer::Result<RecordMetadata>)>,
    ) {
        let acked = self.recorder.started().elapsed();
        let mut recorder = self.recorder.lock();
        let mut failed = 0u64;
        let delivered = deliveries.filter_map(|(token, outcome)| match outcome {
            Ok(_) => Some(token),
            Err(error) => {
                tracing::debug!(%error, "bench record failed");
                failed += 1;
                None
            }
        });
        for_each_run(delivered, |token, count| {
            let (sent, bytes) = unpack_token(token);
            recorder.record_many(acked, count, bytes, Some(acked.saturating_sub(sent)));
        });
        recorder.record_errors(failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_count_every_record_of_mixed_runs_once() {
        let recorder = SharedRecorder::new(
            crate::recorder::Recorder::new(Duration::from_secs(1)),
            Instant::now(),
        );
        let acks = AckRecorder {
            recorder: recorder.clone(),
        };
        let early = pack_token(Duration::ZERO, 100);
        let late = pack_token(Duration::from_micros(5), 1_000);
        let written = |offset| {
            Ok(RecordMetadata {
                topic: Arc::from("t"),
                partition: 0,
                offset,
                timestamp: 0,
            })
        };
        let mut outcomes = vec![
            (early, written(0)),
            (early, written(1)),
            (early, Err(sluice_producer::ProducerError::Closed)),
            (late, written(2)),
            (early, written(3)),
        ]
        .into_iter();
        acks.on_deliveries(&mut outcomes);
        let summary = recorder
            .into_inner()
            .finish(Duration::from_secs(1), crate::settings::example());
        assert_eq!(summary.records, 4);
        assert_eq!(summary.bytes, 3 * 100 + 1_000);
        assert_eq!(summary.errors, 1);
        assert_eq!(summary.latency.map(|latency| latency.count), Some(4));
    }

    #[test]
    fn token_keeps_send_time_and_size() {
        let sent = Duration::from_micros(123_456_789);
        assert_eq!(unpack_token(pack_token(sent, 1024)), (sent, 1024));
    }

    #[test]
    fn token_size_saturates_instead_of_corrupting_the_time() {
        let sent = Duration::from_micros(42);
        let (time, size) = unpack_token(pack_token(sent, usize::MAX));
        assert_eq!((time, size), (sent, SIZE_MASK));
    }
}
