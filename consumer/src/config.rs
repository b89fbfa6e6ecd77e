//! Consumer configuration: one serde struct with Kafka's setting names
//! (dots as underscores, the dotted spelling accepted too) and Kafka's defaults.

use serde::{Deserialize, Serialize};
use sluice_client::ClientConfig;

use crate::error::{ConsumerError, Result};

/// What to do when a partition has no committed offset, or its position is out
/// of range (Kafka: `auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AutoOffsetReset {
    /// Start from the log start offset.
    Earliest,
    /// Start from the log end offset: only records written from now on (Kafka's default).
    #[default]
    Latest,
    /// Fail `poll` with [`ConsumerError::NoOffset`]: the application decides.
    None,
}

/// Settings of a [`crate::Consumer`]; the defaults are Kafka's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Connection, retry and metadata settings shared with the other clients.
    pub client: ClientConfig,
    /// The consumer group; required by `subscribe` and by commits.
    #[serde(alias = "group.id")]
    pub group_id: Option<String>,
    /// A stable identity for static membership (KIP-345): a restart within
    /// `session_timeout_ms` keeps the assignment without a rebalance.
    #[serde(alias = "group.instance.id")]
    pub group_instance_id: Option<String>,
    /// Where to start without a committed offset (Kafka: `latest`).
    #[serde(alias = "auto.offset.reset")]
    pub auto_offset_reset: AutoOffsetReset,
    /// Commit the positions of returned records in the background (Kafka: true).
    #[serde(alias = "enable.auto.commit")]
    pub enable_auto_commit: bool,
    /// How often auto commit runs (Kafka: 5000).
    #[serde(alias = "auto.commit.interval.ms")]
    pub auto_commit_interval_ms: u64,
    /// The coordinator removes a member it has not heard from for this long
    /// (Kafka: 45000).
    #[serde(alias = "session.timeout.ms")]
    pub session_timeout_ms: u64,
    /// How often the heartbeat task pings the coordinator (Kafka: 3000).
    #[serde(alias = "heartbeat.interval.ms")]
    pub heartbeat_interval_ms: u64,
    /// A member that does not call `poll` for this long leaves the group so its
    /// partitions move to live members; also the rebalance timeout (Kafka: 300000).
    #[serde(alias = "max.poll.interval.ms")]
    pub max_poll_interval_ms: u64,
    /// Upper bound of records one `poll` returns (Kafka: 500).
    #[serde(alias = "max.poll.records")]
    pub max_poll_records: usize,
    /// A fetch waits for this many bytes, up to `fetch_max_wait_ms` (Kafka: 1).
    #[serde(alias = "fetch.min.bytes")]
    pub fetch_min_bytes: i32,
    /// Bound of one fetch response (Kafka: 52428800).
    #[serde(alias = "fetch.max.bytes")]
    pub fetch_max_bytes: i32,
    /// How long the broker may hold a fetch for `fetch_min_bytes` (Kafka: 500).
    #[serde(alias = "fetch.max.wait.ms")]
    pub fetch_max_wait_ms: i32,
    /// Bound of one partition's data in a fetch response (Kafka: 1048576).
    #[serde(alias = "max.partition.fetch.bytes")]
    pub max_partition_fetch_bytes: i32,
    /// Assignors offered to the group, preferred first, by Kafka name:
    /// `range`, `roundrobin`, `cooperative-sticky` (Kafka: range, cooperative-sticky).
    #[serde(alias = "partition.assignment.strategy")]
    pub partition_assignment_strategy: Vec<String>,
    /// Bound on the decompressed size of one record batch: a defence against
    /// compression bombs (no Kafka equivalent; 64 MiB).
    pub max_decompressed_batch_bytes: usize,
    /// Verify each batch's CRC-32C before handing out its records (Kafka: true).
    #[serde(alias = "check.crcs")]
    pub check_crcs: bool,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            client: ClientConfig::default(),
            group_id: None,
            group_instance_id: None,
            auto_offset_reset: AutoOffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval_ms: 5_000,
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 3_000,
            max_poll_interval_ms: 300_000,
            max_poll_records: 500,
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            fetch_max_wait_ms: 500,
            max_partition_fetch_bytes: 1_048_576,
            partition_assignment_strategy: vec![
                "range".to_owned(),
                "cooperative-sticky".to_owned(),
            ],
            max_decompressed_batch_bytes: 64 * 1024 * 1024,
            check_crcs: true,
        }
    }
}

impl ConsumerConfig {
    /// A default configuration for `bootstrap_servers`, in group `group_id`.
    pub fn new(bootstrap_servers: impl Into<String>, group_id: Option<&str>) -> Self {
        ConsumerConfig {
            client: ClientConfig::new(bootstrap_servers),
            group_id: group_id.map(str::to_owned),
            ..ConsumerConfig::default()
        }
    }

    /// Checks the settings that Kafka also rejects.
    ///
    /// # Errors
    /// [`ConsumerError::Config`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        self.client.validate()?;
        if self.heartbeat_interval_ms == 0 || self.heartbeat_interval_ms >= self.session_timeout_ms
        {
            return Err(ConsumerError::Config(
                "heartbeat_interval_ms must be positive and below session_timeout_ms".to_owned(),
            ));
        }
        if self.max_poll_records == 0 {
            return Err(ConsumerError::Config(
                "max_poll_records must be at least 1".to_owned(),
            ));
        }
        if self.partition_assignment_strategy.is_empty() {
            return Err(ConsumerError::Config(
                "partition_assignment_strategy names no assignor".to_owned(),
            ));
        }
        for name in &self.partition_assignment_strategy {
            crate::assignor::by_name(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafka() {
        let config = ConsumerConfig::default();
        assert_eq!(config.auto_offset_reset, AutoOffsetReset::Latest);
        assert!(config.enable_auto_commit);
        assert_eq!(config.session_timeout_ms, 45_000);
        assert_eq!(config.max_poll_interval_ms, 300_000);
        assert_eq!(config.max_poll_records, 500);
    }

    #[test]
    fn kafka_dotted_names_are_accepted() {
        let parsed: std::result::Result<ConsumerConfig, _> = toml::from_str(
            "\"group.id\" = \"g\"\n\"auto.offset.reset\" = \"earliest\"\n[client]\n\"bootstrap.servers\" = \"k:1\"",
        );
        let config = parsed.ok();
        assert_eq!(
            config.as_ref().and_then(|c| c.group_id.clone()),
            Some("g".to_owned())
        );
        assert_eq!(
            config.map(|c| c.auto_offset_reset),
            Some(AutoOffsetReset::Earliest)
        );
    }

    #[test]
    fn unknown_assignor_is_rejected() {
        let config = ConsumerConfig {
            partition_assignment_strategy: vec!["sticky-ish".to_owned()],
            ..ConsumerConfig::default()
        };
        assert!(config.validate().is_err());
    }
}
