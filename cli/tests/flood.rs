//! The flood test: a real `sluice broker` process serves a normal
//! idempotent producer (acks=all) and a consumer while attackers send, as
//! fast as they can for [`FLOOD`], malformed requests and requests that
//! claim 2^31-1 entries (Metadata v1 topics, Produce v3 topics, JoinGroup v5
//! protocols), garbage frames, half frames left hanging, lying and oversized
//! length prefixes, and connections opened and closed in a tight loop.
//!
//! It asserts what a user relies on: the broker stays up and answers, its
//! resident memory (VmRSS, sampled all along) stays under
//! [`MAX_RSS_BYTES`], every record the producer sent is acknowledged
//! without error and the consumer reads every one back. It prints what was
//! sent and the peak RSS (the README's figures come from this output).

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_consumer::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};
use sluice_producer::{Acks, Producer, ProducerConfig, ProducerRecord};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod cli_support;
use cli_support::{Running, free_port};

/// How long the attackers run.
const FLOOD: Duration = Duration::from_secs(30);
/// Concurrent attacker tasks.
const ATTACKERS: usize = 4;
/// Half-sent frames each attacker keeps open (oldest dropped first).
const HELD_HALF_FRAMES: usize = 100;
/// The broker's resident memory must stay under this.
const MAX_RSS_BYTES: u64 = 256 << 20;
/// Records the normal producer sends during the flood.
const RECORDS: usize = 20_000;
const PARTITIONS: i32 = 3;
const TOPIC: &str = "flood-victims";
/// The broker's log may not grow with the flood: lines about bad input and
/// refused connections are rate-limited.
const MAX_LOG_LINES: usize = 500;
/// Bound on start-up, on reading everything back, and on the exit.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

fn sluice(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run sluice")
}

fn vm_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A request frame (length prefix included): request header v1 (api key,
/// version, correlation id, client id) and `body`.
fn request(api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&7_i32.to_be_bytes());
    frame.extend_from_slice(&5_i16.to_be_bytes());
    frame.extend_from_slice(b"flood");
    frame.extend_from_slice(body);
    let mut prefixed = (frame.len() as i32).to_be_bytes().to_vec();
    prefixed.extend(frame);
    prefixed
}

fn string(text: &str) -> Vec<u8> {
    let mut bytes = (text.len() as i16).to_be_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// An array count of 2^31-1 followed by 15 bytes: far too few for it.
fn huge_count() -> Vec<u8> {
    let mut bytes = i32::MAX.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0; 15]);
    bytes
}

/// The requests sent on fresh connections, each with its name.
fn attacks() -> Vec<(&'static str, Vec<u8>)> {
    let metadata_v1 = request(3, 1, &huge_count());
    let mut produce = (-1_i16).to_be_bytes().to_vec(); // transactional id: null
    produce.extend_from_slice(&1_i16.to_be_bytes()); // acks
    produce.extend_from_slice(&1000_i32.to_be_bytes()); // timeout
    produce.extend(huge_count());
    let produce_v3 = request(0, 3, &produce);
    let mut join = string("flood-group");
    join.extend_from_slice(&10_000_i32.to_be_bytes()); // session timeout
    join.extend_from_slice(&10_000_i32.to_be_bytes()); // rebalance timeout
    join.extend(string("")); // member id
    join.extend_from_slice(&(-1_i16).to_be_bytes()); // group instance id: null
    join.extend(string("consumer"));
    join.extend(huge_count());
    let join_group_v5 = request(11, 5, &join);
    let mut garbage = 64_i32.to_be_bytes().to_vec();
    garbage.extend((0..64u8).map(|i| i.wrapping_mul(151) ^ 0x5a));
    let unknown_api = request(0x7f7f, 0, &[1, 2, 3]);
    let oversized_prefix = i32::MAX.to_be_bytes().to_vec();
    let negative_prefix = (-5_i32).to_be_bytes().to_vec();
    let truncated_metadata = request(3, 12, &[0, 0, 0]);
    vec![
        ("metadata_v1_huge_count", metadata_v1),
        ("produce_v3_huge_count", produce_v3),
        ("join_group_v5_huge_count", join_group_v5),
        ("garbage_frame", garbage),
        ("unknown_api", unknown_api),
        ("oversized_length_prefix", oversized_prefix),
        ("negative_length_prefix", negative_prefix),
        ("truncated_request", truncated_metadata),
    ]
}

/// Half frames kept open: a lying 100 MiB prefix with 4 KiB, and a real
/// request cut in the middle.
fn half_frames() -> Vec<Vec<u8>> {
    let mut lying = (100_i32 << 20).to_be_bytes().to_vec();
    lying.extend_from_slice(&[0x42; 4096]);
    let cut = request(3, 1, &huge_count());
    vec![lying, cut[..cut.len() / 2].to_vec()]
}

#[derive(Default)]
struct Sent {
    requests: AtomicU64,
    half_frames: AtomicU64,
    connections: AtomicU64,
}

async fn attacker(address: String, sent: Arc<Sent>, stop: Arc<AtomicBool>) {
    let attacks = attacks();
    let half_frames = half_frames();
    let mut held: VecDeque<TcpStream> = VecDeque::new();
    let mut round = 0usize;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let Ok(Ok(mut socket)) =
            tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(&address)).await
        else {
            continue;
        };
        sent.connections.fetch_add(1, Ordering::Relaxed);
        match round % (attacks.len() + 2) {
            // A connection opened and dropped at once.
            0 => {}
            1 => {
                let half = &half_frames[round % half_frames.len()];
                if socket.write_all(half).await.is_ok() {
                    sent.half_frames.fetch_add(1, Ordering::Relaxed);
                    held.push_back(socket);
                    if held.len() > HELD_HALF_FRAMES {
                        held.pop_front();
                    }
                }
            }
            kind => {
                let (_, bytes) = &attacks[kind - 2];
                // Several per connection: the broker reads the first and
                // closes; writes after that may fail, which is fine.
                for _ in 0..4 {
                    if socket.write_all(bytes).await.is_err() {
                        break;
                    }
                    sent.requests.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Sends [`RECORDS`] records spread over [`FLOOD`]; returns the failures.
async fn produce_during_flood(bootstrap: &str) -> Vec<String> {
    let mut config = ProducerConfig::new(bootstrap);
    config.acks = Acks::All;
    config.enable_idempotence = true;
    let producer = Producer::connect(config)
        .await
        .expect("the producer connects");
    let mut deliveries = Vec::with_capacity(RECORDS);
    let chunk = 500;
    let pause = FLOOD / (RECORDS / chunk) as u32 / 2;
    for i in 0..RECORDS {
        let record = ProducerRecord::new(TOPIC, format!("record-{i}"));
        deliveries.push(tokio::spawn(producer.send(record)));
        if i % chunk == chunk - 1 {
            tokio::time::sleep(pause).await;
        }
    }
    let mut failures = Vec::new();
    for delivery in deliveries {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => failures.push(error.to_string()),
            Err(error) => failures.push(error.to_string()),
        }
    }
    producer.close().await;
    failures
}

/// Reads the topic from the beginning until every record was seen.
async fn consume_everything(bootstrap: &str) -> HashSet<String> {
    let mut config = ConsumerConfig::new(bootstrap, None);
    config.auto_offset_reset = AutoOffsetReset::Earliest;
    let mut consumer = Consumer::connect(config)
        .await
        .expect("the consumer connects");
    let partitions: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|partition| TopicPartition::new(TOPIC, partition))
        .collect();
    consumer.assign(&partitions);
    let mut seen = HashSet::new();
    let deadline = Instant::now() + FLOOD + STEP_TIMEOUT;
    while seen.len() < RECORDS && Instant::now() < deadline {
        let Ok(records) = consumer.poll(Duration::from_millis(500)).await else {
            continue;
        };
        for record in records {
            if let Some(value) = record.value {
                seen.insert(String::from_utf8_lossy(&value).into_owned());
            }
        }
    }
    seen
}

#[test]
#[allow(clippy::print_stderr, reason = "the test reports its figures")]
fn broker_serves_normal_clients_through_a_flood_of_bad_input() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let port = free_port();
    let bootstrap = format!("127.0.0.1:{port}");
    let log = dir.path().join("broker.log");
    let mut broker = Running(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["broker", "--listen", &bootstrap, "--data-dir"])
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the log file"))
            .spawn()
            .expect("spawn sluice broker"),
    );
    let pid = broker.0.id();
    let started = Instant::now();
    while std::net::TcpStream::connect(&bootstrap).is_err() {
        assert!(
            started.elapsed() < STEP_TIMEOUT,
            "the broker never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let created = sluice(&[
        "topic",
        "create",
        TOPIC,
        "--partitions",
        &PARTITIONS.to_string(),
        "--bootstrap-server",
        &bootstrap,
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let stop = Arc::new(AtomicBool::new(false));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak_rss) = (Arc::clone(&stop), Arc::clone(&peak_rss));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = vm_rss_bytes(pid) {
                    peak_rss.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let sent = Arc::new(Sent::default());
    let (failures, consumed) = runtime.block_on(async {
        let attackers: Vec<_> = (0..ATTACKERS)
            .map(|_| {
                tokio::spawn(attacker(
                    bootstrap.clone(),
                    Arc::clone(&sent),
                    Arc::clone(&stop),
                ))
            })
            .collect();
        let flood_end = tokio::time::Instant::now() + FLOOD;
        let failures = produce_during_flood(&bootstrap).await;
        let consumed = consume_everything(&bootstrap).await;
        tokio::time::sleep_until(flood_end).await;
        stop.store(true, Ordering::Relaxed);
        for attacker in attackers {
            let _ = attacker.await;
        }
        (failures, consumed)
    });
    let _ = sampler.join();
    let peak_rss = peak_rss.load(Ordering::Relaxed);
    let log_lines = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count();
    eprintln!(
        "flood: {:?}, {} attackers: {} connections, {} bad requests, {} half frames held; \
         producer: {} records acked, {} failed; consumer read {}; broker peak VmRSS {:.1} MiB, {} log lines",
        FLOOD,
        ATTACKERS,
        sent.connections.load(Ordering::Relaxed),
        sent.requests.load(Ordering::Relaxed),
        sent.half_frames.load(Ordering::Relaxed),
        RECORDS - failures.len(),
        failures.len(),
        consumed.len(),
        peak_rss as f64 / f64::from(1 << 20),
        log_lines,
    );

    assert!(
        broker.0.try_wait().expect("poll the broker").is_none(),
        "the broker died during the flood:\n{}",
        log_tail(&log)
    );
    let listed = sluice(&["topic", "list", "--bootstrap-server", &bootstrap]);
    assert!(listed.status.success(), "the broker still answers");
    assert!(String::from_utf8_lossy(&listed.stdout).contains(TOPIC));
    assert!(
        failures.is_empty(),
        "every record is acknowledged: {failures:?}"
    );
    assert_eq!(
        consumed.len(),
        RECORDS,
        "the consumer reads every record back"
    );
    assert!(
        peak_rss > 0 && peak_rss < MAX_RSS_BYTES,
        "peak VmRSS {peak_rss} bytes"
    );
    assert!(
        log_lines < MAX_LOG_LINES,
        "the log grew with the flood: {log_lines} lines:\n{}",
        log_tail(&log)
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + STEP_TIMEOUT;
    let status = loop {
        if let Some(status) = broker.0.try_wait().expect("poll the broker") {
            break status;
        }
        assert!(Instant::now() < deadline, "the broker did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "clean shutdown after the flood: {status}");
}
