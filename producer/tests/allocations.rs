//! A steady-state producer allocates nothing per record: batches, requests
//! and responses allocate, records do not. Counted with a global allocator
//! wrapper over every thread of this test process (the broker runs in its own
//! process), and printed so the figure can be quoted.
#![allow(clippy::print_stdout)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sluice_client::testing::TestBroker;
use sluice_producer::{Acks, DeliveryCallback, Producer, ProducerRecord, RecordMetadata};

use support::{STEP_TIMEOUT, create_topic, producer_config, topic_name};

/// Counts allocations (not frees: a per-record allocation shows up whether
/// or not it is freed soon).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged; counting does not touch the memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts acknowledgements.
#[derive(Default)]
struct Acked(AtomicU64);

impl DeliveryCallback for Acked {
    fn on_delivery(&self, _token: u64, outcome: sluice_producer::Result<RecordMetadata>) {
        if outcome.is_ok() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends `count` copies of `record` and waits for every acknowledgement;
/// returns the allocations made meanwhile.
async fn allocations_for(
    producer: &Producer,
    record: &ProducerRecord,
    callback: &Arc<dyn DeliveryCallback>,
    count: u64,
    forget: bool,
) -> anyhow::Result<u64> {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for token in 0..count {
        if forget {
            producer.send_and_forget(record).await?;
        } else {
            producer.send_with_callback(record, callback, token).await?;
        }
    }
    producer.flush().await;
    Ok(ALLOCATIONS.load(Ordering::Relaxed) - before)
}

async fn steady_state_allocations_per_record(forget: bool) -> anyhow::Result<f64> {
    let broker = TestBroker::start().await?;
    let topic = topic_name(if forget {
        "alloc-forget"
    } else {
        "alloc-callback"
    });
    create_topic(&broker, &topic, 1).await?;
    let mut config = producer_config(&broker.bootstrap());
    config.acks = Acks::Leader;
    config.enable_idempotence = false;
    let producer = Producer::connect(config).await?;
    let record = ProducerRecord::new(&topic, vec![b'x'; 100]);
    let acked = Arc::new(Acked::default());
    let callback: Arc<dyn DeliveryCallback> = acked.clone();
    // Warm-up: metadata, connection, spare batch builders, buffers at size.
    tokio::time::timeout(
        STEP_TIMEOUT,
        allocations_for(&producer, &record, &callback, 20_000, forget),
    )
    .await??;
    const RECORDS: u64 = 100_000;
    let allocations = tokio::time::timeout(
        STEP_TIMEOUT,
        allocations_for(&producer, &record, &callback, RECORDS, forget),
    )
    .await??;
    producer.close().await;
    if !forget {
        assert_eq!(acked.0.load(Ordering::Relaxed), 20_000 + RECORDS);
    }
    let per_record = allocations as f64 / RECORDS as f64;
    println!(
        "{}: {allocations} allocations for {RECORDS} records of 100 bytes = {per_record:.3} per record",
        if forget {
            "send_and_forget"
        } else {
            "send_with_callback"
        }
    );
    Ok(per_record)
}

// A per-record allocation would make this at least 1.0; batches of ~16 KiB
// hold about 130 records, so per-batch and per-request allocations add up
// to a small fraction.
const MOST_PER_RECORD: f64 = 0.5;

// One test: the counter is process-wide, so the two paths run one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_producer_allocates_nothing_per_record() -> anyhow::Result<()> {
    let forget = steady_state_allocations_per_record(true).await?;
    let callback = steady_state_allocations_per_record(false).await?;
    assert!(
        forget < MOST_PER_RECORD,
        "send_and_forget: {forget} allocations per record"
    );
    assert!(
        callback < MOST_PER_RECORD,
        "send_with_callback: {callback} allocations per record"
    );
    Ok(())
}
