//! Each benchmark mode against a live broker (`sluice_client::testing`:
//! the `sluice` binary from `SLUICE_BIN`, or Kafka with
//! `SLUICE_TEST_BROKER=kafka`): a few hundred records, and the JSON summary
//! accounts for every one. Figures are never asserted; every run is bounded.

use std::time::Duration;

use serde_json::Value;
use sluice_benches::{AckMode, BenchSettings, Mode, PayloadKind, Summary};
use sluice_client::testing::TestBroker;

/// Records each run sends or reads.
const RECORDS: u64 = 300;
/// Upper bound on one run, so a stuck run fails instead of hanging.
const RUN_BOUND: Duration = Duration::from_secs(60);

fn settings(broker: &TestBroker, mode: Mode, topic: &str) -> BenchSettings {
    BenchSettings {
        mode,
        bootstrap_servers: broker.bootstrap(),
        api_timeout_ms: 20_000,
        topic: topic.to_owned(),
        partitions: 2,
        records: Some(RECORDS),
        duration_ms: Some(RUN_BOUND.as_millis() as u64),
        record_size: 100,
        payload: PayloadKind::Random,
        payload_file: None,
        producers: 1,
        consumers: 1,
        group: None,
        acks: AckMode::Leader,
        compression: "none".to_owned(),
        batch_size: 16_384,
        batch_max_size: 262_144,
        linger_ms: 5,
        throughput: None,
    }
}

async fn run(settings: BenchSettings) -> Value {
    let summary: Summary =
        tokio::time::timeout(RUN_BOUND * 2, sluice_benches::run(settings, |_| {}))
            .await
            .expect("the run ends within its bound")
            .expect("the run succeeds");
    serde_json::from_str(&summary.to_json()).expect("the summary is valid JSON")
}

async fn broker() -> TestBroker {
    TestBroker::start().await.expect("a test broker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_run_acknowledges_every_record_it_sends() {
    let broker = broker().await;
    let summary = run(settings(&broker, Mode::Produce, "produce-all")).await;
    assert_eq!(summary["records"], RECORDS);
    assert_eq!(summary["bytes"], RECORDS * 100);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["latency"]["count"], RECORDS);
    assert_eq!(summary["settings"]["partitions"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_run_with_compression_and_two_producers_sends_the_total() {
    let broker = broker().await;
    let mut produce = settings(&broker, Mode::Produce, "produce-zstd");
    produce.producers = 2;
    produce.compression = "zstd".to_owned();
    produce.payload = PayloadKind::Compressible;
    produce.acks = AckMode::All;
    let summary = run(produce).await;
    assert_eq!(summary["records"], RECORDS);
    assert_eq!(summary["errors"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_run_reads_every_record_the_topic_holds() {
    let broker = broker().await;
    run(settings(&broker, Mode::Produce, "consume-all")).await;
    let mut consume = settings(&broker, Mode::Consume, "consume-all");
    consume.records = None;
    consume.duration_ms = None;
    consume.consumers = 2;
    let summary = run(consume).await;
    assert_eq!(summary["records"], RECORDS);
    assert_eq!(summary["bytes"], RECORDS * 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_run_in_a_group_reads_every_record() {
    let broker = broker().await;
    run(settings(&broker, Mode::Produce, "consume-group")).await;
    let mut consume = settings(&broker, Mode::Consume, "consume-group");
    consume.group = Some("bench-group".to_owned());
    let summary = run(consume).await;
    assert_eq!(summary["records"], RECORDS);
    assert_eq!(summary["settings"]["group"], "bench-group");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_run_receives_every_record_with_its_latency() {
    let broker = broker().await;
    let mut e2e = settings(&broker, Mode::E2e, "e2e");
    e2e.throughput = Some(1_000);
    let summary = run(e2e).await;
    assert_eq!(summary["records"], RECORDS);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["latency"]["count"], RECORDS);
    // The same records' produce acknowledgements, measured separately.
    assert_eq!(summary["ack_latency"]["count"], RECORDS);
}
