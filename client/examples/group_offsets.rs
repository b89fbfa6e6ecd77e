//! Prints a consumer group's committed offsets, log end offsets and lag, after
//! optionally resetting them to the earliest offsets of a topic:
//!
//! ```sh
//! cargo run -p sluice-client --example group_offsets -- 127.0.0.1:9092 GROUP [TOPIC-TO-RESET]
//! ```

use anyhow::Context;
use sluice_client::{Admin, ClientConfig, OffsetReset};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let group = args
        .next()
        .context("usage: group_offsets BOOTSTRAP GROUP [TOPIC]")?;
    let admin = Admin::connect(ClientConfig::new(bootstrap)).await?;
    if let Some(topic) = args.next() {
        let reset = admin
            .reset_group_offsets(&group, &[topic], OffsetReset::Earliest)
            .await?;
        tracing::info!(?reset, "reset to earliest");
    }
    for offset in admin.group_offsets(&group).await? {
        tracing::info!(
            topic = %offset.topic,
            partition = offset.partition,
            committed = ?offset.committed_offset,
            log_end = ?offset.log_end_offset,
            lag = ?offset.lag,
            "group offset"
        );
    }
    Ok(())
}
