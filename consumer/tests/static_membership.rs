//! Static membership (KIP-345) against a real broker: a restarted member with
//! the same `group_instance_id` gets its partitions back without a
//! rebalance, and a second live member with that id fences the first.

mod common;

use std::time::Duration;

use common::{
    Assignments, bounded, consumer_config, create_topic, keep_polling, unique_topic, wait_until,
};
use sluice_consumer::{Consumer, ConsumerConfig, ConsumerError};
use tokio::sync::watch;

const LIMIT: Duration = Duration::from_secs(120);

async fn static_config(group: &str, instance: &str) -> anyhow::Result<ConsumerConfig> {
    let mut config = consumer_config(Some(group)).await?;
    config.group_instance_id = Some(instance.to_owned());
    Ok(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_static_member_gets_its_partitions_back() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("static");
        let group = unique_topic("g-static");
        create_topic(&topic, 6).await?;
        let assignments = Assignments::default();
        let (stop, stop_rx) = watch::channel(false);
        let mut handles = Vec::new();
        for (index, instance) in ["a", "b"].into_iter().enumerate() {
            let mut consumer = Consumer::connect(static_config(&group, instance).await?).await?;
            consumer.subscribe(&[topic.as_str()])?;
            handles.push(keep_polling(
                index,
                consumer,
                assignments.clone(),
                stop_rx.clone(),
            ));
        }
        wait_until(&assignments, |a| {
            a.len() == 2 && a.values().all(|p| p.len() == 3)
        })
        .await;
        stop.send(true)?;
        let mut consumers = Vec::new();
        for handle in handles {
            consumers.push(handle.await??);
        }
        let mut b = consumers
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no member b"))?;
        let mut a = consumers
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no member a"))?;
        let before = a.assignment();
        a.close().await;

        let mut restarted = Consumer::connect(static_config(&group, "a").await?).await?;
        restarted.subscribe(&[topic.as_str()])?;
        while restarted.assignment().is_empty() {
            restarted.poll(Duration::from_millis(100)).await?;
        }
        assert_eq!(restarted.assignment(), before);
        restarted.close().await;
        b.close().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_member_with_the_same_instance_id_fences_the_first() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("fence");
        let group = unique_topic("g-fence");
        create_topic(&topic, 2).await?;
        let mut first = Consumer::connect(static_config(&group, "same").await?).await?;
        first.subscribe(&[topic.as_str()])?;
        while first.assignment().is_empty() {
            first.poll(Duration::from_millis(100)).await?;
        }
        let mut second = Consumer::connect(static_config(&group, "same").await?).await?;
        second.subscribe(&[topic.as_str()])?;
        while second.assignment().is_empty() {
            second.poll(Duration::from_millis(100)).await?;
        }
        let fenced = loop {
            match first.poll(Duration::from_millis(100)).await {
                Ok(_) => continue,
                Err(error) => break error,
            }
        };
        assert!(
            matches!(fenced, ConsumerError::FencedInstanceId(_)),
            "{fenced:?}"
        );
        second.close().await;
        Ok(())
    })
    .await
}
