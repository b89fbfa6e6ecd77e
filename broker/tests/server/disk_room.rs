//! New partitions must fit the data directory's free disk: CreateTopics,
//! CreatePartitions and auto-creation by Metadata answer POLICY_VIOLATION (with
//! a message giving the figures) when the partitions' first reservations do
//! not fit, and leave no topic, partition or log behind.
//!
//! When the space check passes but creating the logs still fails (here: out
//! of inodes), the topic or the new partitions are taken back.
//!
//! The broker runs on a small tmpfs, so the free space is real and small
//! (this machine's disk is never filled). Mounting needs root; without it each
//! test says so and does nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{CreatePartitionsRequest, CreateTopicsRequest, MetadataRequest};
use sluice_protocol::ErrorCode;

use crate::support::{Client, TestBroker, batch};
use crate::{create_topic, produce, topic_name};

/// Room for the broker's own files and a few hundred small partitions, not
/// for a thousand.
const SMALL_TMPFS: &str = "size=8m";
/// Plenty of bytes but few inodes (a handful per partition): creating
/// files fails with ENOSPC while the free-space check sees room.
const FEW_INODES_TMPFS: &str = "size=64m,nr_inodes=200";
/// Partitions that cannot fit [`TMPFS_SIZE`] at the default config.
const TOO_MANY_PARTITIONS: i32 = 1_000;

/// A mounted tmpfs, unmounted on drop (lazily, should a failed test leave
/// a file open on it).
struct Tmpfs {
    _parent: tempfile::TempDir,
    mount_point: PathBuf,
}

impl Tmpfs {
    #[allow(
        clippy::print_stderr,
        reason = "a skipped test must say why it did nothing"
    )]
    fn mount(options: &str) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().expect("temp dir");
        let mount_point = parent.path().join("mnt");
        std::fs::create_dir(&mount_point).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&mount_point)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            eprintln!("SKIPPED disk-room test: cannot mount a tmpfs (needs root)");
            return None;
        }
        Some(Tmpfs {
            _parent: parent,
            mount_point,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

/// A broker whose data directory is the tmpfs.
async fn broker_on(tmpfs: &Tmpfs, num_partitions: i32) -> TestBroker {
    let data_dir = tmpfs.mount_point.clone();
    TestBroker::start_with(move |config| {
        config.data_dir = data_dir;
        config.num_partitions = num_partitions;
    })
    .await
}

fn create_request(name: &str, partitions: i32, validate_only: bool) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(name))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only)
}

/// Partitions of `name` as Metadata reports them, without auto-creation;
/// `None` when the topic does not exist.
async fn partition_count(client: &mut Client, name: &str) -> Option<usize> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(name))),
        ]))
        .with_allow_auto_topic_creation(false);
    let response = client.call(12, request).await;
    let topic = &response.topics[0];
    (topic.error_code == 0).then_some(topic.partitions.len())
}

/// Names of the partition directories of `topic` in `data_dir`.
fn log_dirs_of(data_dir: &Path, topic: &str) -> Vec<String> {
    let prefix = format!("{topic}-");
    std::fs::read_dir(data_dir)
        .expect("data dir")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

fn assert_refused_for_disk(error_code: i16, message: Option<&str>) {
    assert_eq!(error_code, ErrorCode::PolicyViolation.code());
    let message = message.unwrap_or_default();
    assert!(
        message.contains("not enough free disk") && message.contains("bytes free"),
        "the message explains the refusal: {message:?}"
    );
}

#[tokio::test]
async fn create_topics_that_cannot_fit_the_free_disk_is_a_policy_violation_and_leaves_nothing() {
    let Some(tmpfs) = Tmpfs::mount(SMALL_TMPFS) else {
        return;
    };
    let broker = broker_on(&tmpfs, 1).await;
    let mut client = broker.client().await;

    for validate_only in [true, false] {
        let response = client
            .call(
                7,
                create_request("wide", TOO_MANY_PARTITIONS, validate_only),
            )
            .await;
        let result = &response.topics[0];
        assert_refused_for_disk(result.error_code, result.error_message.as_deref());
    }
    assert_eq!(partition_count(&mut client, "wide").await, None);
    assert!(log_dirs_of(&tmpfs.mount_point, "wide").is_empty());

    assert_eq!(
        create_topic(&mut client, "narrow", 10).await,
        0,
        "a topic that fits"
    );
    assert_eq!(
        produce(&mut client, "narrow", 9, batch(&["fits"])).await,
        (0, 0)
    );
    broker.stop().await;
}

#[tokio::test]
async fn create_partitions_that_cannot_fit_the_free_disk_is_refused_and_the_topic_keeps_its_partitions()
 {
    let Some(tmpfs) = Tmpfs::mount(SMALL_TMPFS) else {
        return;
    };
    let broker = broker_on(&tmpfs, 1).await;
    let mut client = broker.client().await;
    assert_eq!(create_topic(&mut client, "growing", 2).await, 0);

    let request = CreatePartitionsRequest::default()
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(topic_name("growing"))
                .with_count(TOO_MANY_PARTITIONS),
        ])
        .with_timeout_ms(10_000);
    let response = client.call(3, request).await;
    let result = &response.results[0];
    assert_refused_for_disk(result.error_code, result.error_message.as_deref());
    assert_eq!(partition_count(&mut client, "growing").await, Some(2));
    assert_eq!(log_dirs_of(&tmpfs.mount_point, "growing").len(), 2);
    broker.stop().await;
}

#[tokio::test]
async fn auto_creation_that_cannot_fit_the_free_disk_is_refused_and_creates_nothing() {
    let Some(tmpfs) = Tmpfs::mount(SMALL_TMPFS) else {
        return;
    };
    let broker = broker_on(&tmpfs, TOO_MANY_PARTITIONS).await;
    let mut client = broker.client().await;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name("auto"))),
        ]))
        .with_allow_auto_topic_creation(true);
    let response = client.call(12, request).await;
    assert_eq!(
        response.topics[0].error_code,
        ErrorCode::PolicyViolation.code()
    );
    assert_eq!(partition_count(&mut client, "auto").await, None);
    assert!(log_dirs_of(&tmpfs.mount_point, "auto").is_empty());
    broker.stop().await;
}

#[tokio::test]
async fn creations_that_fail_half_way_on_a_full_disk_leave_nothing_behind() {
    let Some(tmpfs) = Tmpfs::mount(FEW_INODES_TMPFS) else {
        return;
    };
    let broker = broker_on(&tmpfs, 1).await;
    let mut client = broker.client().await;
    let storage_error = ErrorCode::KafkaStorageError.code();
    assert_eq!(create_topic(&mut client, "wide", 100).await, storage_error);
    assert_eq!(partition_count(&mut client, "wide").await, None);
    assert!(log_dirs_of(&tmpfs.mount_point, "wide").is_empty());

    assert_eq!(create_topic(&mut client, "growing", 2).await, 0);
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(topic_name("growing"))
                .with_count(100),
        ])
        .with_timeout_ms(10_000);
    assert_eq!(
        client.call(3, request).await.results[0].error_code,
        storage_error
    );
    assert_eq!(partition_count(&mut client, "growing").await, Some(2));
    assert_eq!(log_dirs_of(&tmpfs.mount_point, "growing").len(), 2);

    assert_eq!(
        create_topic(&mut client, "wide", 5).await,
        0,
        "the name and the space are free again"
    );
    broker.stop().await;

    let broker = broker_on(&tmpfs, 1).await;
    let mut client = broker.client().await;
    assert_eq!(partition_count(&mut client, "wide").await, Some(5));
    assert_eq!(partition_count(&mut client, "growing").await, Some(2));
    broker.stop().await;
}
