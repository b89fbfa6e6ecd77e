//! Background log maintenance: retention and the time-based flush policy.
//!
//! Every `log.retention.check.interval.ms` each partition deletes the sealed
//! segments that `retention.ms` / `retention.bytes` no longer keep; every
//! `log.flush.scheduler.interval.ms` each partition flushes if `flush.ms` says
//! it is due (appends check it too, but an idle partition must not wait for
//! the next append). Both run on the blocking pool: they may `fsync`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use crate::broker::{Broker, now_ms};

/// Runs retention and scheduled flushes until the broker begins shutdown,
/// even when shutdown began before this task first ran.
pub async fn run_maintenance(broker: Arc<Broker>) {
    let config = broker.config();
    let mut retention = tokio::time::interval(Duration::from_millis(
        config.log_retention_check_interval_ms.max(1),
    ));
    let mut flush = tokio::time::interval(Duration::from_millis(
        config.log_flush_scheduler_interval_ms.max(1),
    ));
    retention.set_missed_tick_behavior(MissedTickBehavior::Delay);
    flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut closing = broker.subscribe_closing();
    loop {
        let task: fn(&Broker) = tokio::select! {
            _ = retention.tick() => enforce_retention,
            _ = flush.tick() => flush_due,
            // By value: a shutdown that began before `subscribe_closing`
            // is already "seen" by this receiver and would never be a change.
            _ = closing.wait_for(|closing| *closing) => return,
        };
        let broker = Arc::clone(&broker);
        if let Err(error) = tokio::task::spawn_blocking(move || task(&broker)).await {
            warn!(%error, "log maintenance task failed");
        }
    }
}

fn enforce_retention(broker: &Broker) {
    let now = now_ms();
    for partition in broker.all_partitions() {
        let result = partition.with_state(|state| {
            state
                .log
                .enforce_retention(now)
                .map_err(|e| crate::partition::storage_error_code(&e))
        });
        let tp = partition.topic_partition();
        match result {
            Ok(outcome) if outcome.deleted_segments > 0 => info!(
                topic = %tp.topic,
                partition = tp.partition,
                segments = outcome.deleted_segments,
                bytes = outcome.deleted_bytes,
                log_start_offset = outcome.log_start_offset,
                "retention deleted segments"
            ),
            Ok(_) => {}
            Err(code) => {
                warn!(topic = %tp.topic, partition = tp.partition, %code, "retention failed")
            }
        }
    }
}

fn flush_due(broker: &Broker) {
    let now = now_ms();
    for partition in broker.all_partitions() {
        let result = partition.with_state(|state| {
            state
                .log
                .flush_if_due(now)
                .map_err(|e| crate::partition::storage_error_code(&e))
        });
        if let Err(code) = result {
            let tp = partition.topic_partition();
            warn!(topic = %tp.topic, partition = tp.partition, %code, "scheduled flush failed");
        }
    }
}
