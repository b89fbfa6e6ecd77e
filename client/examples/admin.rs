//! Creates a topic, describes it, lists its offsets, alters and reads its
//! config, then deletes it — a by-hand check against a real broker:
//!
//! ```sh
//! cargo run -p sluice-client --example admin -- 127.0.0.1:9092
//! ```

use anyhow::{Context, bail};
use sluice_client::{Admin, AlterConfigOp, ClientConfig, NewTopic, OffsetReset, OffsetSpec};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let admin = Admin::connect(ClientConfig::new(bootstrap))
        .await
        .context("connect")?;
    let topic = format!("sluice-admin-example-{}", std::process::id());

    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 3, 1).with_config("retention.ms", "3600000")],
            false,
        )
        .await?;
    tracing::info!(?created, "create_topics");
    if let Some(error) = created.iter().find_map(|t| t.error.clone()) {
        bail!("create failed: {error:?}");
    }

    let described = admin.describe_topics(std::slice::from_ref(&topic)).await?;
    for t in &described {
        tracing::info!(name = %t.name, id = %t.topic_id, partitions = t.partitions.len(), "describe_topics");
        for p in &t.partitions {
            tracing::info!(partition = p.partition, leader = ?p.leader_id, epoch = p.leader_epoch, replicas = ?p.replicas, isr = ?p.isr, "partition");
        }
    }

    let partitions: Vec<(String, i32)> = (0..3).map(|p| (topic.clone(), p)).collect();
    for spec in [
        OffsetSpec::Earliest,
        OffsetSpec::Latest,
        OffsetSpec::MaxTimestamp,
        OffsetSpec::Timestamp(0),
    ] {
        let offsets = admin.list_offsets(&partitions, spec).await?;
        for o in offsets {
            tracing::info!(?spec, partition = o.partition, offset = o.offset, error = ?o.error, "list_offsets");
        }
    }

    admin.create_partitions(&topic, 4, false).await?;
    let described = admin.describe_topics(std::slice::from_ref(&topic)).await?;
    tracing::info!(
        partitions = described.first().map(|t| t.partitions.len()),
        "after create_partitions"
    );

    admin
        .alter_topic_config(
            &topic,
            &[AlterConfigOp::Set {
                name: "retention.ms".into(),
                value: "7200000".into(),
            }],
            false,
        )
        .await?;
    let config = admin.describe_topic_config(&topic).await?;
    let retention = config.iter().find(|c| c.name == "retention.ms");
    tracing::info!(?retention, entries = config.len(), "describe_topic_config");

    let group = format!("{topic}-group");
    let reset = admin
        .reset_group_offsets(&group, std::slice::from_ref(&topic), OffsetReset::Latest)
        .await?;
    tracing::info!(?reset, "reset_group_offsets");
    let offsets = admin.group_offsets(&group).await?;
    tracing::info!(?offsets, "group_offsets");
    let groups = admin.list_groups().await?;
    tracing::info!(?groups, "list_groups");
    let described = admin.describe_groups(std::slice::from_ref(&group)).await?;
    tracing::info!(?described, "describe_groups");
    let deleted = admin.delete_groups(std::slice::from_ref(&group)).await?;
    tracing::info!(?deleted, "delete_groups");

    let deleted = admin.delete_topics(std::slice::from_ref(&topic)).await?;
    tracing::info!(?deleted, "delete_topics");
    let again = admin.delete_topics(std::slice::from_ref(&topic)).await?;
    tracing::info!(
        ?again,
        "delete_topics again (expect UNKNOWN_TOPIC_OR_PARTITION)"
    );
    Ok(())
}
