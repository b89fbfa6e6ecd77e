//! A Sluice consumer and Apache Kafka's Java console consumer share one
//! group: the embedded "consumer" protocol is encoded as Kafka's, so the
//! partitions are split between the two whichever of them leads.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{bootstrap, bounded, consumer_config, create_topic, unique_topic};
use sluice_consumer::Consumer;

const LIMIT: Duration = Duration::from_secs(180);

/// The Java consumer's process, killed when the test ends however it ends.
struct JavaConsumer(Child);

impl Drop for JavaConsumer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn java_console_consumer(
    bootstrap: &str,
    topic: &str,
    group: &str,
) -> anyhow::Result<JavaConsumer> {
    let tool = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka-tool");
    let child = Command::new(tool)
        .args([
            "kafka-console-consumer",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
        ])
        .args(["--group", group, "--timeout-ms", "150000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(JavaConsumer(child))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_and_java_consumers_split_a_group() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("interop");
        let group = unique_topic("g-interop");
        create_topic(&topic, 4).await?;
        let _java = java_console_consumer(&bootstrap().await?, &topic, &group)?;
        let mut consumer = Consumer::connect(consumer_config(Some(&group)).await?).await?;
        consumer.subscribe(&[topic.as_str()])?;
        // Both members end up with two partitions once the Java member has joined too.
        while consumer.assignment().len() != 2 {
            consumer.poll(Duration::from_millis(200)).await?;
        }
        consumer.close().await;
        Ok(())
    })
    .await
}
