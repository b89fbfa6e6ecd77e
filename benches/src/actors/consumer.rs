//! A consumer actor: polls until the run's record target is reached or the
//! run is stopped, and records each record (with its end-to-end latency when
//! values carry a send-time stamp).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_consumer::{Consumer, ConsumerRecord};

use super::{SharedRecorder, for_each_run};
use crate::error::Result;
use crate::payload::{now_micros, read_stamp};
use crate::recorder::Recorder;

/// How long one poll waits for records; bounds how late a stop is noticed.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// When the consumers of a run stop: all of them together, once their
/// records add up to the target or the run says stop.
#[derive(Debug)]
pub(crate) struct ConsumeTarget {
    consumed: AtomicU64,
    target: AtomicU64,
    stop: AtomicBool,
}

impl ConsumeTarget {
    /// A target of `records` (`None`: until stopped).
    pub(crate) fn new(records: Option<u64>) -> ConsumeTarget {
        ConsumeTarget {
            consumed: AtomicU64::new(0),
            target: AtomicU64::new(records.unwrap_or(u64::MAX)),
            stop: AtomicBool::new(false),
        }
    }

    /// Sets the target once it is known (e2e: what the producers sent).
    pub(crate) fn set_target(&self, records: u64) {
        self.target.store(records, Ordering::Release);
    }

    /// Makes every consumer stop after its current poll.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Records received by all consumers so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Acquire)
    }

    fn add(&self, records: u64) {
        self.consumed.fetch_add(records, Ordering::AcqRel);
    }

    fn done(&self) -> bool {
        self.stop.load(Ordering::Acquire) || self.consumed() >= self.target.load(Ordering::Acquire)
    }
}

/// Polls until `target` says done, then closes the consumer.
///
/// # Errors
/// A poll that fails (the consumer's error).
pub(crate) async fn run(
    mut consumer: Consumer,
    stamped: bool,
    target: &ConsumeTarget,
    recorder: SharedRecorder,
) -> Result<()> {
    let outcome = poll_until_done(&mut consumer, stamped, target, &recorder).await;
    consumer.close().await;
    outcome
}

async fn poll_until_done(
    consumer: &mut Consumer,
    stamped: bool,
    target: &ConsumeTarget,
    recorder: &SharedRecorder,
) -> Result<()> {
    while !target.done() {
        let records = consumer.poll(POLL_TIMEOUT).await?;
        if records.is_empty() {
            continue;
        }
        let received_at = Instant::now().duration_since(recorder.started());
        let received_us = now_micros();
        let measured = records.iter().map(|record| {
            let latency = stamped
                .then(|| end_to_end_latency(record, received_us))
                .flatten();
            (record_bytes(record), latency)
        });
        record_runs(&mut recorder.lock(), received_at, measured);
        target.add(records.len() as u64);
    }
    Ok(())
}

/// Counts records received together, given as `(bytes, latency)`: one
/// histogram update per run of equal ones (a producer's burst shares one
/// stamp and a poll one receive time, so runs are long).
fn record_runs(
    recorder: &mut Recorder,
    received_at: Duration,
    records: impl Iterator<Item = (u64, Option<Duration>)>,
) {
    for_each_run(records, |(bytes, latency), count| {
        recorder.record_many(received_at, count, bytes, latency);
    });
}

fn record_bytes(record: &ConsumerRecord) -> u64 {
    let len = |field: &Option<bytes::Bytes>| field.as_ref().map_or(0, bytes::Bytes::len);
    (len(&record.key) + len(&record.value)) as u64
}

/// Receive time minus the send time stamped in the value.
fn end_to_end_latency(record: &ConsumerRecord, received_us: u64) -> Option<Duration> {
    let sent_us = read_stamp(record.value.as_deref()?)?;
    Some(Duration::from_micros(received_us.saturating_sub(sent_us)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_count_what_one_by_one_recording_counts() {
        let ms = Duration::from_millis;
        let received = [
            (100, Some(ms(1))),
            (100, Some(ms(1))),
            (100, Some(ms(9))),
            (1_000, Some(ms(9))),
            (100, Some(ms(1))),
            (100, None),
        ];
        let mut in_runs = Recorder::new(Duration::from_secs(1));
        record_runs(&mut in_runs, ms(5), received.into_iter());
        let mut one_by_one = Recorder::new(Duration::from_secs(1));
        for (bytes, latency) in received {
            one_by_one.record(ms(5), bytes, latency);
        }
        let finish = |recorder: Recorder| {
            recorder.finish(Duration::from_secs(1), crate::settings::example())
        };
        let (in_runs, one_by_one) = (finish(in_runs), finish(one_by_one));
        assert_eq!(in_runs.records, 6);
        assert_eq!(in_runs.bytes, 5 * 100 + 1_000);
        let latency = in_runs.latency.as_ref().expect("latencies were recorded");
        assert_eq!(latency.count, 5);
        assert_eq!(
            serde_json::to_value(&in_runs).expect("a summary serializes"),
            serde_json::to_value(&one_by_one).expect("a summary serializes"),
        );
    }
}
