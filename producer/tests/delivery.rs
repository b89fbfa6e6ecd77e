//! The producer against a real broker (`SLUICE_TEST_BROKER=kafka` for Apache
//! Kafka, otherwise the Sluice binary): acks levels, codecs, partitioning,
//! headers and timestamps, flush and close, and exactly-once delivery with
//! idempotence while connections are cut.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::try_join_all;
use sluice_client::testing::TestBroker;
use sluice_client::{Admin, NewTopic, OffsetSpec};
use sluice_producer::{
    Acks, DeliveryCallback, Producer, ProducerError, ProducerRecord, RecordMetadata,
    partition_for_key,
};
use sluice_protocol::Compression;
use support::{
    STEP_TIMEOUT, create_topic, create_topic_with, init_tracing, producer_config, read_partition,
    topic_name,
};

async fn produce_and_read_back(
    broker: &TestBroker,
    codec: &str,
    level: Option<i32>,
) -> anyhow::Result<()> {
    let topic = topic_name(&format!("codec-{codec}-{}", level.unwrap_or(0)));
    let client = create_topic(broker, &topic, 1).await?;
    let mut config = producer_config(&broker.bootstrap());
    config.compression_type = codec.to_owned();
    config.compression_zstd_level = level;
    let producer = Producer::connect(config).await?;
    // `enqueue` appends in call order, so offsets follow it.
    let mut sends = Vec::new();
    for i in 0..200_usize {
        let record = ProducerRecord::new(&topic, format!("value-{i}-{}", "x".repeat(i % 50)))
            .with_key(format!("key-{i}"))
            .with_header("index", Some(Bytes::from(i.to_string())))
            .with_timestamp(1_700_000_000_000 + i as i64);
        sends.push(producer.enqueue(record).await?);
    }
    let written = tokio::time::timeout(STEP_TIMEOUT, try_join_all(sends)).await??;
    assert!(
        written
            .iter()
            .enumerate()
            .all(|(i, m)| m.offset == i as i64),
        "offsets are dense and in send order"
    );
    producer.close().await;
    let fetched = read_partition(&client, &topic, 0, 200).await?;
    assert_eq!(fetched.len(), 200);
    let expected: Compression = codec.parse()?;
    for (i, fetched) in fetched.iter().enumerate() {
        let record = &fetched.record;
        assert_eq!(fetched.compression, expected, "batch codec");
        assert_eq!(record.key.as_deref(), Some(format!("key-{i}").as_bytes()));
        assert_eq!(
            record.value.as_deref(),
            Some(format!("value-{i}-{}", "x".repeat(i % 50)).as_bytes())
        );
        assert_eq!(record.timestamp, 1_700_000_000_000 + i as i64);
        let header = record.headers.iter().next().expect("one header per record");
        assert_eq!(&header.key[..], b"index");
        assert_eq!(header.value.as_deref(), Some(i.to_string().as_bytes()));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_keys_values_headers_and_timestamps() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        produce_and_read_back(&broker, codec, None).await?;
    }
    produce_and_read_back(&broker, "zstd", Some(19)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_on_the_java_clients_partition() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    let topic = topic_name("keyed");
    create_topic(&broker, &topic, 6).await?;
    let producer = Producer::connect(producer_config(&broker.bootstrap())).await?;
    for i in 0..50 {
        let key = format!("customer-{i}");
        let written = producer
            .send(ProducerRecord::new(&topic, "v").with_key(key.clone()))
            .await?;
        assert_eq!(
            written.partition,
            partition_for_key(key.as_bytes(), 6),
            "key {key}"
        );
    }
    producer.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_and_one_deliver_without_idempotence() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    for (acks, name) in [(Acks::None, "acks0"), (Acks::Leader, "acks1")] {
        let topic = topic_name(name);
        let client = create_topic(&broker, &topic, 1).await?;
        let mut config = producer_config(&broker.bootstrap());
        config.acks = acks;
        config.enable_idempotence = false;
        let producer = Producer::connect(config).await?;
        let sends = (0..100).map(|i| producer.send(ProducerRecord::new(&topic, format!("{i}"))));
        let written = tokio::time::timeout(STEP_TIMEOUT, try_join_all(sends)).await??;
        if acks == Acks::None {
            assert!(
                written.iter().all(|m| m.offset == -1),
                "acks=0 reports no offsets"
            );
        }
        producer.close().await;
        let fetched = read_partition(&client, &topic, 0, 100).await?;
        assert_eq!(fetched.len(), 100);
        assert!(
            fetched.iter().all(|f| f.producer_id == -1),
            "no producer id without idempotence"
        );
    }
    Ok(())
}

/// Collects `(token, offset)` pairs. With `batch_calls`, it takes only the
/// first record of each `on_deliveries` call and leaves the rest, which the
/// producer must then hand to `on_delivery` one by one.
#[derive(Default)]
struct Collect {
    batch_calls: bool,
    delivered: Mutex<Vec<(u64, i64)>>,
    group_calls: AtomicUsize,
}

impl DeliveryCallback for Collect {
    fn on_delivery(&self, token: u64, outcome: sluice_producer::Result<RecordMetadata>) {
        let offset = outcome.map_or(-2, |metadata| metadata.offset);
        self.delivered.lock().expect("lock").push((token, offset));
    }

    fn on_deliveries(
        &self,
        deliveries: &mut dyn Iterator<Item = (u64, sluice_producer::Result<RecordMetadata>)>,
    ) {
        if !self.batch_calls {
            for (token, outcome) in deliveries {
                self.on_delivery(token, outcome);
            }
            return;
        }
        self.group_calls.fetch_add(1, Ordering::Relaxed);
        if let Some((token, outcome)) = deliveries.next() {
            self.on_delivery(token, outcome);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_get_every_record_once_with_its_token_and_offset() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    let topic = topic_name("callbacks");
    let _client = create_topic(&broker, &topic, 1).await?;
    let mut config = producer_config(&broker.bootstrap());
    // One batch for all: the callbacks' records interleave within it.
    config.linger_ms = 30_000;
    config.delivery_timeout_ms = 90_000;
    let producer = Producer::connect(config).await?;
    let per_record = Arc::new(Collect::default());
    let per_batch = Arc::new(Collect {
        batch_calls: true,
        ..Collect::default()
    });
    let per_record_dyn: Arc<dyn DeliveryCallback> = per_record.clone();
    let per_batch_dyn: Arc<dyn DeliveryCallback> = per_batch.clone();
    // Offsets 0-9 per record, 10-29 per batch, 30 a channel, 31-39 per batch.
    let mut channel = None;
    for i in 0..40u64 {
        let record = ProducerRecord::new(&topic, format!("{i}"));
        match i {
            0..10 => {
                producer
                    .send_with_callback(&record, &per_record_dyn, i)
                    .await?
            }
            30 => channel = Some(producer.enqueue(record).await?),
            _ => {
                producer
                    .send_with_callback(&record, &per_batch_dyn, i)
                    .await?
            }
        }
    }
    tokio::time::timeout(STEP_TIMEOUT, producer.flush()).await?;
    let channel = channel.expect("record 30 was enqueued").await?;
    assert_eq!(channel.offset, 30);
    let expected =
        |range: std::ops::Range<u64>| -> Vec<(u64, i64)> { range.map(|i| (i, i as i64)).collect() };
    assert_eq!(*per_record.delivered.lock().expect("lock"), expected(0..10));
    let mut batched = per_batch.delivered.lock().expect("lock").clone();
    batched.sort_unstable();
    let mut wanted = expected(10..30);
    wanted.extend(expected(31..40));
    assert_eq!(batched, wanted, "each record once, with its own offset");
    assert_eq!(
        per_batch.group_calls.load(Ordering::Relaxed),
        2,
        "one call per run of records sharing the callback"
    );
    producer.close().await;
    Ok(())
}

/// `send_all_with_callback` appends a slice of records in order under one
/// turn of the lock; a record whose topic the producer has not seen yet
/// waits for metadata there (and the ones after it wait behind it), and
/// every record is reported once with its own token and offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_all_appends_in_order_waiting_where_a_record_must() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    let first = topic_name("send-all-first");
    let second = topic_name("send-all-second");
    let client = create_topic(&broker, &first, 1).await?;
    create_topic(&broker, &second, 1).await?;
    let producer = Producer::connect(producer_config(&broker.bootstrap())).await?;
    // Tokens: topic in the high half, sequence within the topic below.
    const SECOND: u64 = 1 << 32;
    let mut records = Vec::new();
    for i in 0..300u64 {
        // Records 100-149 go to a topic this producer has no metadata for.
        let (topic, token) = if (100..150).contains(&i) {
            (&second, SECOND | (i - 100))
        } else if i < 100 {
            (&first, i)
        } else {
            (&first, i - 50)
        };
        let record = ProducerRecord::new(topic.as_str(), format!("v{i}")).with_key(format!("k{i}"));
        records.push((record, token));
    }
    let collect = Arc::new(Collect::default());
    let callback: Arc<dyn DeliveryCallback> = collect.clone();
    let appended = producer
        .send_all_with_callback(records.iter().map(|(r, t)| (r, *t)), &callback)
        .await?;
    assert_eq!(appended, 300);
    tokio::time::timeout(STEP_TIMEOUT, producer.flush()).await?;
    let mut delivered = collect.delivered.lock().expect("lock").clone();
    delivered.sort_unstable();
    let mut expected: Vec<(u64, i64)> = (0..250).map(|i| (i, i as i64)).collect();
    expected.extend((0..50).map(|i| (SECOND | i, i as i64)));
    assert_eq!(
        delivered, expected,
        "each record once, offsets in call order"
    );
    let fetched = read_partition(&client, &first, 0, 250).await?;
    for (offset, fetched) in fetched.iter().enumerate() {
        let i = if offset < 100 { offset } else { offset + 50 };
        assert_eq!(
            fetched.record.value.as_deref(),
            Some(format!("v{i}").as_bytes())
        );
    }
    producer.close().await;
    Ok(())
}

/// The first record `send_all_with_callback` cannot append stops it: the
/// error says how many went before, those are delivered, and nothing after
/// the refused record is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_all_stops_at_a_refused_record() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    let topic = topic_name("send-all-refused");
    let client = create_topic(&broker, &topic, 1).await?;
    let mut config = producer_config(&broker.bootstrap());
    config.max_request_size = 10_000;
    let producer = Producer::connect(config).await?;
    let records: Vec<ProducerRecord> = (0..5)
        .map(|i| {
            let size = if i == 3 { 20_000 } else { 10 };
            ProducerRecord::new(&topic, vec![b'a' + i as u8; size])
        })
        .collect();
    let collect = Arc::new(Collect::default());
    let callback: Arc<dyn DeliveryCallback> = collect.clone();
    let outcome = producer
        .send_all_with_callback(records.iter().zip(0..), &callback)
        .await;
    let error = outcome.expect_err("record 3 is larger than max.request.size");
    assert_eq!(error.appended, 3);
    assert!(
        matches!(error.error, ProducerError::RecordTooLarge { .. }),
        "{error}"
    );
    tokio::time::timeout(STEP_TIMEOUT, producer.flush()).await?;
    assert_eq!(
        *collect.delivered.lock().expect("lock"),
        vec![(0, 0), (1, 1), (2, 2)]
    );
    let admin = Admin::new(client.clone());
    let ends = admin
        .list_offsets(&[(topic.clone(), 0)], OffsetSpec::Latest)
        .await?;
    assert_eq!(ends[0].offset, 3, "nothing after the refused record");
    producer.close().await;
    Ok(())
}

/// A topic that takes smaller batches than the producer builds answers
/// MESSAGE_TOO_LARGE; the producer splits such batches until they fit, with
/// and without idempotence, and every record lands once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_larger_than_the_topic_takes_are_split_until_they_fit() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    for (label, acks) in [("idempotent", Acks::All), ("acks1", Acks::Leader)] {
        let topic = topic_name(&format!("split-{label}"));
        let mut new = NewTopic::new(&topic, 1, 1);
        new.configs
            .insert("max.message.bytes".to_owned(), "3000".to_owned());
        let client = create_topic_with(&broker, new).await?;
        let mut config = producer_config(&broker.bootstrap());
        config.acks = acks;
        config.enable_idempotence = acks == Acks::All;
        config.compression_type = "none".to_owned();
        config.linger_ms = 200;
        let producer = Producer::connect(config).await?;
        let value = |i: usize| format!("{i:05}-{}", "v".repeat(100));
        let mut sends = Vec::new();
        for i in 0..400 {
            sends.push(
                producer
                    .enqueue(ProducerRecord::new(&topic, value(i)))
                    .await?,
            );
        }
        let written = tokio::time::timeout(STEP_TIMEOUT, try_join_all(sends)).await??;
        producer.close().await;
        let fetched = read_partition(&client, &topic, 0, 400).await?;
        let mut values: Vec<String> = fetched
            .iter()
            .map(|f| {
                String::from_utf8_lossy(f.record.value.as_deref().unwrap_or_default()).into_owned()
            })
            .collect();
        for (metadata, expected) in written.iter().zip((0..400).map(value)) {
            let at = usize::try_from(metadata.offset)?;
            assert_eq!(
                values.get(at),
                Some(&expected),
                "{label}: a record's offset holds it"
            );
        }
        if acks == Acks::All {
            // Idempotence keeps the order: pieces go one at a time, in sequence.
            assert_eq!(
                values,
                (0..400).map(value).collect::<Vec<_>>(),
                "{label}: in order"
            );
        } else {
            // Without it, batches in flight behind a split one may land first
            // (as with any retry and several requests in flight).
            values.sort();
            assert_eq!(
                values,
                (0..400).map(value).collect::<Vec<_>>(),
                "{label}: each once"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_delivers_fire_and_forget_records() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    let topic = topic_name("forget");
    let client = create_topic(&broker, &topic, 3).await?;
    let mut config = producer_config(&broker.bootstrap());
    // A long linger: only the flush makes these batches go.
    config.linger_ms = 30_000;
    config.delivery_timeout_ms = 90_000;
    let producer = Producer::connect(config).await?;
    for i in 0..300 {
        producer
            .send_and_forget(&ProducerRecord::new(&topic, format!("{i}")))
            .await?;
    }
    tokio::time::timeout(STEP_TIMEOUT, producer.flush()).await?;
    let admin = Admin::new(client);
    let partitions: Vec<(String, i32)> = (0..3).map(|p| (topic.clone(), p)).collect();
    let ends = admin.list_offsets(&partitions, OffsetSpec::Latest).await?;
    let total: i64 = ends.iter().map(|end| end.offset).sum();
    assert_eq!(total, 300, "every record is written once flush returns");
    producer.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_to_a_missing_topic_fails_after_max_block() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    let mut config = producer_config(&broker.bootstrap());
    config.max_block_ms = 500;
    let producer = Producer::connect(config).await?;
    let result = producer
        .send(ProducerRecord::new("no-such-topic", "v"))
        .await;
    assert!(
        matches!(result, Err(ProducerError::TopicNotFound { .. })),
        "{result:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_writes_each_record_once_in_order_while_connections_drop()
-> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start_behind_proxy().await?;
    let proxy = broker.proxy().expect("started behind a proxy");
    let topic = topic_name("exactly-once");
    let client = create_topic(&broker, &topic, 2).await?;
    let mut config = producer_config(&broker.bootstrap());
    config.batch_size = 1_024;
    // Batches still grow behind a backlog, but stay small enough for a
    // request to be answered between two cuts: a 256 KiB batch takes a
    // debug-build broker longer than 30 ms, so every resend was cut.
    config.batch_max_size = 4 * 1_024;
    config.linger_ms = 1;
    let producer = Producer::connect(config).await?;

    const RECORDS: usize = 4_000;
    // Cut every connection every 30 ms while records are being produced, so
    // requests are lost in flight (some after the broker wrote them).
    let cutter = proxy.cutter(Duration::from_millis(30));
    let mut deliveries = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let record = ProducerRecord::new(&topic, format!("{i:06}")).with_partition((i % 2) as i32);
        deliveries.push(producer.enqueue(record).await?);
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let written = tokio::time::timeout(STEP_TIMEOUT, try_join_all(deliveries)).await??;
    drop(cutter);
    assert_eq!(written.len(), RECORDS);
    producer.close().await;
    assert!(
        proxy.accepted() > 2,
        "connections were re-opened after cuts"
    );

    let mut seen: HashMap<String, usize> = HashMap::new();
    for partition in 0..2 {
        let fetched = read_partition(&client, &topic, partition, RECORDS / 2).await?;
        let values: Vec<String> = fetched
            .iter()
            .map(|f| {
                String::from_utf8_lossy(f.record.value.as_deref().unwrap_or_default()).into_owned()
            })
            .collect();
        let mut sorted = values.clone();
        sorted.sort();
        assert_eq!(values, sorted, "partition {partition} keeps send order");
        for value in values {
            *seen.entry(value).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), RECORDS, "every record written");
    assert!(
        seen.values().all(|count| *count == 1),
        "no record written twice"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_added_while_producing_is_waited_for_and_a_missing_one_refused()
-> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    let topic = topic_name("grown");
    let client = create_topic(&broker, &topic, 1).await?;
    let mut config = producer_config(&broker.bootstrap());
    config.max_block_ms = 3_000;
    let producer = Producer::connect(config).await?;
    // The producer knows the topic with one partition.
    let first = producer.send(ProducerRecord::new(&topic, "before").with_partition(0));
    assert_eq!(first.await?.partition, 0);

    Admin::new(client.clone())
        .create_partitions(&topic, 3, false)
        .await?;
    // Partition 2 is not in the producer's metadata yet: it refreshes and
    // waits (within max.block.ms) instead of refusing the record.
    let grown = producer.send(ProducerRecord::new(&topic, "after").with_partition(2));
    let written = tokio::time::timeout(STEP_TIMEOUT, grown).await??;
    assert_eq!((written.partition, written.offset), (2, 0));

    let missing = producer.send(ProducerRecord::new(&topic, "nowhere").with_partition(7));
    match tokio::time::timeout(STEP_TIMEOUT, missing).await? {
        Err(ProducerError::UnknownPartition {
            partition: 7,
            partition_count: 3,
            ..
        }) => {}
        other => panic!("expected UnknownPartition for partition 7 of 3, got {other:?}"),
    }
    let negative = producer.send(ProducerRecord::new(&topic, "negative").with_partition(-1));
    assert!(matches!(
        negative.await,
        Err(ProducerError::UnknownPartition { partition: -1, .. })
    ));
    producer.close().await;
    let fetched = read_partition(&client, &topic, 2, 1).await?;
    assert_eq!(fetched[0].record.value.as_deref(), Some(&b"after"[..]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_fails_send_after_max_block() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    let topic = topic_name("buffer-full");
    create_topic(&broker, &topic, 1).await?;
    let mut config = producer_config(&broker.bootstrap());
    // Records stay buffered for the whole linger, so the buffer fills.
    config.linger_ms = 30_000;
    config.buffer_memory = 2_000;
    config.max_block_ms = 200;
    let producer = Producer::connect(config).await?;
    let record = ProducerRecord::new(&topic, vec![0_u8; 500]);
    let mut queued = Vec::new();
    for _ in 0..3 {
        queued.push(producer.enqueue(record.clone()).await?);
    }
    let blocked = producer.enqueue(record.clone()).await;
    assert!(
        matches!(blocked, Err(ProducerError::BufferExhausted { .. })),
        "{blocked:?}"
    );
    producer.flush().await;
    let written = try_join_all(queued).await?;
    assert_eq!(written.len(), 3, "the buffered records are still delivered");
    producer.enqueue(record).await?;
    producer.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sent_across_a_broker_restart_are_all_delivered() -> anyhow::Result<()> {
    init_tracing();
    let mut broker = TestBroker::start().await?;
    let topic = topic_name("restart");
    let client = create_topic(&broker, &topic, 1).await?;
    let producer = Producer::connect(producer_config(&broker.bootstrap())).await?;
    let mut deliveries = Vec::new();
    for i in 0..100 {
        deliveries.push(
            producer
                .enqueue(ProducerRecord::new(&topic, format!("{i:04}")))
                .await?,
        );
    }
    broker.kill_and_restart().await?;
    for i in 100..200 {
        deliveries.push(
            producer
                .enqueue(ProducerRecord::new(&topic, format!("{i:04}")))
                .await?,
        );
    }
    let written = tokio::time::timeout(STEP_TIMEOUT, try_join_all(deliveries)).await??;
    assert_eq!(written.len(), 200);
    producer.close().await;
    let fetched = read_partition(&client, &topic, 0, 200).await?;
    let values: Vec<String> = fetched
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f.record.value.as_deref().unwrap_or_default()).into_owned()
        })
        .collect();
    let expected: Vec<String> = (0..200).map(|i| format!("{i:04}")).collect();
    assert_eq!(values, expected, "each record once, in order");
    Ok(())
}
