//! Consumer groups against a real broker: three members over twelve
//! partitions, one joining and one leaving while records flow; with commits
//! after each batch no record is lost and none is processed twice. Run with
//! an eager assignor (range, roundrobin) and with cooperative-sticky.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    Assignments, bounded, consumer_config, create_topic, keep_polling, produce, unique_topic,
    wait_until,
};
use sluice_consumer::{Consumer, TopicPartition};
use sluice_protocol::Compression;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const PARTITIONS: i32 = 12;
const PER_PARTITION: usize = 200;
const LIMIT: Duration = Duration::from_secs(240);

type Seen = Arc<Mutex<BTreeMap<(i32, i64), usize>>>;

/// One member: polls, "processes" (records each offset), commits, until `stop`.
fn member(
    config: sluice_consumer::ConsumerConfig,
    topic: String,
    seen: Seen,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<anyhow::Result<()>> {
    tokio::spawn(async move {
        let mut consumer = Consumer::connect(config).await?;
        consumer.subscribe(&[topic.as_str()])?;
        while !*stop.borrow_and_update() {
            let records = consumer.poll(Duration::from_millis(200)).await?;
            if records.is_empty() {
                continue;
            }
            {
                let mut seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                for record in &records {
                    *seen
                        .entry((record.partition.partition, record.offset))
                        .or_default() += 1;
                }
            }
            consumer.commit_sync().await?;
        }
        consumer.close().await;
        Ok(())
    })
}

fn seen_count(seen: &Seen) -> usize {
    seen.lock().map(|s| s.len()).unwrap_or(0)
}

async fn wait_for(seen: &Seen, count: usize) {
    while seen_count(seen) < count {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn produce_round(
    client: &sluice_client::Client,
    topic: &str,
    round: usize,
) -> anyhow::Result<()> {
    for partition in 0..PARTITIONS {
        let values: Vec<String> = (0..PER_PARTITION / 4)
            .map(|i| format!("{round}-{partition}-{i}"))
            .collect();
        produce(client, topic, partition, &values, Compression::Lz4).await?;
    }
    Ok(())
}

async fn members_join_and_leave_without_loss_or_duplicates(strategy: &str) -> anyhow::Result<()> {
    let topic = unique_topic(&format!("group-{strategy}"));
    let client = create_topic(&topic, PARTITIONS).await?;
    let mut config = consumer_config(Some(&unique_topic("g"))).await?;
    config.enable_auto_commit = false;
    config.max_poll_records = 50;
    config.partition_assignment_strategy = vec![strategy.to_owned()];
    let seen: Seen = Arc::default();
    let per_round = PARTITIONS as usize * PER_PARTITION / 4;

    let (stop_all, stop_rx) = watch::channel(false);
    let (stop_leaver, leaver_rx) = watch::channel(false);
    let mut members = vec![
        member(config.clone(), topic.clone(), seen.clone(), stop_rx.clone()),
        member(config.clone(), topic.clone(), seen.clone(), stop_rx.clone()),
    ];
    let leaver = member(config.clone(), topic.clone(), seen.clone(), leaver_rx);

    produce_round(&client, &topic, 0).await?;
    wait_for(&seen, per_round).await;
    members.push(member(
        config.clone(),
        topic.clone(),
        seen.clone(),
        stop_rx.clone(),
    ));
    produce_round(&client, &topic, 1).await?;
    produce_round(&client, &topic, 2).await?;
    wait_for(&seen, 3 * per_round).await;
    stop_leaver.send(true)?;
    leaver.await??;
    produce_round(&client, &topic, 3).await?;
    wait_for(&seen, 4 * per_round).await;
    stop_all.send(true)?;
    for handle in members {
        handle.await??;
    }

    let seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "processed twice: {duplicates:?}");
    let expected: BTreeSet<(i32, i64)> = (0..PARTITIONS)
        .flat_map(|p| (0..PER_PARTITION as i64).map(move |o| (p, o)))
        .collect();
    assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_group_loses_and_duplicates_nothing_while_members_come_and_go() -> anyhow::Result<()>
{
    bounded(
        LIMIT,
        members_join_and_leave_without_loss_or_duplicates("range"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_group_loses_and_duplicates_nothing_while_members_come_and_go()
-> anyhow::Result<()> {
    bounded(
        LIMIT,
        members_join_and_leave_without_loss_or_duplicates("roundrobin"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_group_loses_and_duplicates_nothing_while_members_come_and_go()
-> anyhow::Result<()> {
    bounded(
        LIMIT,
        members_join_and_leave_without_loss_or_duplicates("cooperative-sticky"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partition_is_assigned_to_exactly_one_of_three_members() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("spread");
        create_topic(&topic, PARTITIONS).await?;
        let config = consumer_config(Some(&unique_topic("g-spread"))).await?;
        let assignments = Assignments::default();
        let (stop, stop_rx) = watch::channel(false);
        let mut handles = Vec::new();
        for index in 0..3 {
            let mut consumer = Consumer::connect(config.clone()).await?;
            consumer.subscribe(&[topic.as_str()])?;
            handles.push(keep_polling(
                index,
                consumer,
                assignments.clone(),
                stop_rx.clone(),
            ));
        }
        wait_until(&assignments, |a| {
            let all: Vec<&TopicPartition> = a.values().flatten().collect();
            let unique: BTreeSet<&TopicPartition> = all.iter().copied().collect();
            a.len() == 3 && a.values().all(|p| p.len() == 4) && unique.len() == all.len()
        })
        .await;
        stop.send(true)?;
        for handle in handles {
            handle.await??.close().await;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_created_after_subscribe_is_consumed() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("later");
        let mut consumer =
            Consumer::connect(consumer_config(Some(&unique_topic("g-later"))).await?).await?;
        consumer.subscribe(&[topic.as_str()])?;
        consumer.poll(Duration::from_millis(200)).await?;
        assert!(consumer.assignment().is_empty());
        let client = create_topic(&topic, 2).await?;
        produce(&client, &topic, 1, &["hello".to_owned()], Compression::None).await?;
        let record = loop {
            if let Some(record) = consumer.poll(Duration::from_millis(200)).await?.pop() {
                break record;
            }
        };
        assert_eq!((record.partition.partition, record.offset), (1, 0));
        assert_eq!(consumer.assignment().len(), 2);
        consumer.close().await;
        Ok(())
    })
    .await
}

/// Records which partitions were reported lost.
struct LostRecorder(Arc<Mutex<Vec<TopicPartition>>>);

impl sluice_consumer::RebalanceListener for LostRecorder {
    fn on_partitions_revoked(&mut self, _partitions: &[TopicPartition]) {}
    fn on_partitions_assigned(&mut self, _partitions: &[TopicPartition]) {}
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        if let Ok(mut lost) = self.0.lock() {
            lost.extend_from_slice(partitions);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_that_stops_polling_leaves_and_rejoins_when_it_polls_again() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("slow");
        create_topic(&topic, 4).await?;
        let mut config = consumer_config(Some(&unique_topic("g-slow"))).await?;
        config.max_poll_interval_ms = 2_000;
        let assignments = Assignments::default();
        let lost = Arc::new(Mutex::new(Vec::new()));
        let (stop_slow, slow_rx) = watch::channel(false);
        let (stop_other, other_rx) = watch::channel(false);
        let mut slow = Consumer::connect(config.clone()).await?;
        slow.set_rebalance_listener(LostRecorder(lost.clone()));
        slow.subscribe(&[topic.as_str()])?;
        let mut other = Consumer::connect(config).await?;
        other.subscribe(&[topic.as_str()])?;
        let slow_task = keep_polling(0, slow, assignments.clone(), slow_rx);
        let other_task = keep_polling(1, other, assignments.clone(), other_rx);
        wait_until(&assignments, |a| {
            a.len() == 2 && a.values().all(|p| p.len() == 2)
        })
        .await;

        // The slow member stops polling: after max.poll.interval.ms it leaves
        // and the other member takes everything.
        stop_slow.send(true)?;
        let slow = slow_task.await??;
        wait_until(&assignments, |a| a.get(&1).is_some_and(|p| p.len() == 4)).await;

        // Polling again, it finds its partitions lost and rejoins.
        let (stop_again, again_rx) = watch::channel(false);
        let slow_task = keep_polling(0, slow, assignments.clone(), again_rx);
        wait_until(&assignments, |a| {
            a.get(&0).is_some_and(|p| p.len() == 2) && a.get(&1).is_some_and(|p| p.len() == 2)
        })
        .await;
        assert_eq!(
            lost.lock().map(|l| l.len()).unwrap_or(0),
            2,
            "the slow member's two partitions were lost"
        );
        stop_again.send(true)?;
        stop_other.send(true)?;
        slow_task.await??.close().await;
        other_task.await??.close().await;
        Ok(())
    })
    .await
}
