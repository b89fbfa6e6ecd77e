//! Shared fixtures of the integration tests: one broker per test binary,
//! topic creation and a minimal producer built from `BatchBuilder` and a
//! Produce request.
//!
//! The broker follows the workspace convention: `SLUICE_TEST_BROKER=kafka`
//! runs Apache Kafka from `scripts/kafka.sh`, anything else the Sluice binary
//! from `SLUICE_BIN` (default `<repo>/target/debug/sluice`);
//! `SLUICE_TEST_BOOTSTRAP=host:port` uses a broker that is already running.
//! The broker is started once per test binary on free ports (the tests share
//! it through unique topic and group names), under a watchdog shell that
//! kills it and deletes its directory when the test process exits, so no
//! broker outlives the tests.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_client::{Admin, Client, ClientConfig, NewTopic};
use sluice_consumer::ConsumerConfig;
use sluice_protocol::{BatchBuilder, Compression};

/// How long a broker may take to start.
const BROKER_START_TIMEOUT: Duration = Duration::from_secs(120);

static BOOTSTRAP: OnceLock<Result<String, String>> = OnceLock::new();
static TOPIC_COUNTER: AtomicU32 = AtomicU32::new(0);

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shell command (with `$1` the data directory) that runs the chosen broker.
fn broker_command(port: u16) -> anyhow::Result<String> {
    if std::env::var("SLUICE_TEST_BROKER").as_deref() == Ok("kafka") {
        let script = repo_root().join("scripts/kafka.sh");
        let controller_port = free_port()?;
        return Ok(format!(
            "'{}' \"$1\" {port} {controller_port}",
            script.display()
        ));
    }
    let binary = std::env::var_os("SLUICE_BIN")
        .map_or_else(|| repo_root().join("target/debug/sluice"), PathBuf::from);
    if !binary.exists() {
        bail!(
            "{} not found: build it (cargo build -p sluice) or set SLUICE_BIN or SLUICE_TEST_BROKER=kafka",
            binary.display()
        );
    }
    Ok(format!(
        "'{}' broker --listen 127.0.0.1:{port} --data-dir \"$1/data\"",
        binary.display()
    ))
}

fn start_broker() -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("sluice-consumer-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let test_pid = std::process::id();
    // The watchdog: runs the broker, and when this test process is gone kills it and removes its data.
    let watchdog = format!(
        "{} >\"$1.log\" 2>&1 & broker=$!; \
         while kill -0 {test_pid} 2>/dev/null && kill -0 $broker 2>/dev/null; do sleep 1; done; \
         kill -9 $broker 2>/dev/null; wait $broker; rm -rf \"$1\" \"$1.log\"",
        broker_command(port)?
    );
    Command::new("sh")
        .arg("-c")
        .arg(watchdog)
        .arg("watchdog")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the test broker")?;
    let address = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while TcpStream::connect(&address).is_err() {
        if started.elapsed() > BROKER_START_TIMEOUT {
            bail!("the test broker did not listen on {address} within {BROKER_START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(address)
}

/// The bootstrap address of the test broker, started on first use.
pub fn bootstrap() -> anyhow::Result<String> {
    let result = BOOTSTRAP.get_or_init(|| match std::env::var("SLUICE_TEST_BOOTSTRAP") {
        Ok(address) => Ok(address),
        Err(_) => start_broker().map_err(|e| format!("{e:#}")),
    });
    result.clone().map_err(anyhow::Error::msg)
}

/// A topic name unique to this test process.
pub fn unique_topic(prefix: &str) -> String {
    let n = TOPIC_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Creates `topic` with `partitions` partitions and waits until it has leaders.
pub async fn create_topic(topic: &str, partitions: i32) -> anyhow::Result<Client> {
    let client = Client::connect(ClientConfig::new(bootstrap()?)).await?;
    let admin = Admin::new(client.clone());
    admin
        .create_topics(&[NewTopic::new(topic, partitions, 1)], false)
        .await?;
    let started = Instant::now();
    loop {
        client.invalidate_metadata();
        let ready = client.ensure_topic(topic).await.is_ok()
            && (0..partitions).all(|p| client.with_metadata(|c| c.leader_for(topic, p).is_ok()));
        if ready {
            return Ok(client);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("topic {topic} has no leaders after 30s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes `values` to `topic`-`partition` as one batch compressed with `compression`.
pub async fn produce(
    client: &Client,
    topic: &str,
    partition: i32,
    values: &[String],
    compression: Compression,
) -> anyhow::Result<()> {
    let mut builder = BatchBuilder::new(compression, 16 * 1024 * 1024);
    for value in values {
        if !builder.append(1_700_000_000_000, Some(b"k"), Some(value.as_bytes()), &[]) {
            bail!("batch full");
        }
    }
    let records: Bytes = builder.build()?;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    let response = client.send_to_leader(topic, partition, &request).await?;
    for topic in response.responses {
        for p in topic.partition_responses {
            if p.error_code != 0 {
                bail!("produce failed with error code {}", p.error_code);
            }
        }
    }
    Ok(())
}

/// A consumer config for the test broker with short group timers.
pub fn consumer_config(group: Option<&str>) -> anyhow::Result<ConsumerConfig> {
    let mut config = ConsumerConfig::new(bootstrap()?, group);
    config.auto_offset_reset = sluice_consumer::AutoOffsetReset::Earliest;
    config.session_timeout_ms = 10_000;
    config.heartbeat_interval_ms = 300;
    config.max_poll_interval_ms = 20_000;
    config.fetch_max_wait_ms = 100;
    config.client.default_api_timeout_ms = 30_000;
    Ok(config)
}

/// Runs `test` under a time bound so a hung broker fails the test instead of the run.
/// Logs go to the test output when `RUST_LOG` asks for them.
pub async fn bounded<F: std::future::Future<Output = anyhow::Result<()>>>(
    limit: Duration,
    test: F,
) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    tokio::time::timeout(limit, test)
        .await
        .context("test timed out")?
}

/// Each member's latest assignment, by member index.
pub type Assignments = std::sync::Arc<
    std::sync::Mutex<std::collections::BTreeMap<usize, Vec<sluice_consumer::TopicPartition>>>,
>;

/// Polls `consumer` on its own task (as an application would, so one
/// member's rebalance never waits for another's poll) until `stop`, recording
/// its assignment after each poll; returns the consumer.
pub fn keep_polling(
    index: usize,
    mut consumer: sluice_consumer::Consumer,
    assignments: Assignments,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<anyhow::Result<sluice_consumer::Consumer>> {
    tokio::spawn(async move {
        while !*stop.borrow() {
            consumer.poll(Duration::from_millis(100)).await?;
            let assignment = consumer.assignment();
            assignments
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .insert(index, assignment);
        }
        Ok(consumer)
    })
}

/// Waits until `settled` holds for the recorded assignments.
pub async fn wait_until(
    assignments: &Assignments,
    settled: impl Fn(&std::collections::BTreeMap<usize, Vec<sluice_consumer::TopicPartition>>) -> bool,
) {
    loop {
        if assignments.lock().map(|a| settled(&a)).unwrap_or(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
