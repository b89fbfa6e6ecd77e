//! Producer configuration: one serde struct with Kafka's setting names
//! (dots as underscores; the dotted spelling is accepted too) and Kafka's
//! defaults, except where DESIGN.md §6 picks safer ones.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_client::ClientConfig;
use sluice_protocol::Compression;

use crate::error::ProducerError;

/// How many replicas must have a batch before the broker answers (Kafka's `acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Acks {
    /// `acks=0`: the broker sends no response; records may be lost silently.
    #[serde(rename = "0")]
    None,
    /// `acks=1`: the leader has written the batch.
    #[serde(rename = "1")]
    Leader,
    /// `acks=all` (`-1`): every in-sync replica has the batch.
    #[default]
    #[serde(rename = "all", alias = "-1")]
    All,
}

impl Acks {
    /// The value of the Produce request's `acks` field.
    pub fn wire_value(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Everything a [`crate::Producer`] is configured by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProducerConfig {
    /// Connection, timeout and retry-backoff settings shared with the other clients.
    pub client: ClientConfig,
    /// Replicas that must have a batch before it counts as written (Kafka default `all`).
    pub acks: Acks,
    /// Target size of one partition's batch in bytes (Kafka: `batch.size`,
    /// 16384). With compression, the size expected on the wire, as in the Java
    /// client: a batch takes the records estimated to compress to it (from the
    /// ratio its partition's recent batches showed), up to `batch_max_size`
    /// uncompressed. A bigger record gets a batch of its own.
    #[serde(alias = "batch.size")]
    pub batch_size: usize,
    /// How big a full batch may grow while its partition waits for a free
    /// request slot (`max.in.flight.requests.per.connection` are in flight):
    /// a backlog then leaves in fewer, larger requests instead of queueing
    /// `batch.size` pieces (KIP-782's `batch.max.size`; the Java client has
    /// no such setting and behaves as if it equalled `batch.size`). At least
    /// `batch.size`, at most `max.request.size`; keep it at or below the
    /// topics' `max.message.bytes`.
    #[serde(alias = "batch.max.size")]
    pub batch_max_size: usize,
    /// How long a batch that is not full waits for more records (Kafka: `linger.ms`, 5).
    #[serde(alias = "linger.ms")]
    pub linger_ms: u64,
    /// Bytes of records the producer holds before `send` waits for room
    /// (Kafka: `buffer.memory`, 33554432).
    #[serde(alias = "buffer.memory")]
    pub buffer_memory: usize,
    /// Longest `send` waits for buffer room or topic metadata before failing
    /// (Kafka: `max.block.ms`, 60000).
    #[serde(alias = "max.block.ms")]
    pub max_block_ms: u64,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd` (Kafka's default is `none`;
    /// Sluice defaults to `lz4`, cheap and effective, per DESIGN.md §6).
    #[serde(alias = "compression.type")]
    pub compression_type: String,
    /// gzip level 1-9 (Kafka: `compression.gzip.level`, default 6 when unset).
    #[serde(alias = "compression.gzip.level")]
    pub compression_gzip_level: Option<i32>,
    /// zstd level 1-22 (Kafka: `compression.zstd.level`, default 3 when unset).
    #[serde(alias = "compression.zstd.level")]
    pub compression_zstd_level: Option<i32>,
    /// Producer id, epoch and sequence numbers so retries never duplicate or
    /// reorder records (Kafka: `enable.idempotence`, true). Needs `acks=all`.
    #[serde(alias = "enable.idempotence")]
    pub enable_idempotence: bool,
    /// Upper bound from `send` until a record is acknowledged or failed,
    /// retries included (Kafka: `delivery.timeout.ms`, 120000).
    #[serde(alias = "delivery.timeout.ms")]
    pub delivery_timeout_ms: u64,
    /// How often a failed batch is resent (Kafka: `retries`, i32::MAX; the
    /// delivery timeout normally ends retrying first).
    pub retries: u32,
    /// Largest Produce request, and so the largest record (Kafka: `max.request.size`, 1048576).
    #[serde(alias = "max.request.size")]
    pub max_request_size: usize,
    /// Spread keyed records like null-key ones (Kafka: `partitioner.ignore.keys`, false).
    #[serde(alias = "partitioner.ignore.keys")]
    pub partitioner_ignore_keys: bool,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            client: ClientConfig::default(),
            acks: Acks::All,
            batch_size: 16_384,
            batch_max_size: 256 * 1024,
            linger_ms: 5,
            buffer_memory: 32 * 1024 * 1024,
            max_block_ms: 60_000,
            compression_type: "lz4".to_owned(),
            compression_gzip_level: None,
            compression_zstd_level: None,
            enable_idempotence: true,
            delivery_timeout_ms: 120_000,
            retries: i32::MAX as u32,
            max_request_size: 1024 * 1024,
            partitioner_ignore_keys: false,
        }
    }
}

impl ProducerConfig {
    /// The default configuration for the given bootstrap servers.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        ProducerConfig {
            client: ClientConfig::new(bootstrap_servers),
            ..ProducerConfig::default()
        }
    }

    /// Checks that the settings can work together, as the Java client does
    /// at construction.
    ///
    /// # Errors
    /// [`ProducerError::Config`] naming the offending setting.
    pub fn validate(&self) -> Result<(), ProducerError> {
        let invalid = |message: &str| Err(ProducerError::Config(message.to_owned()));
        self.compression()?;
        if self.enable_idempotence && self.acks != Acks::All {
            return invalid("enable.idempotence requires acks=all");
        }
        if self.enable_idempotence && self.client.max_in_flight_requests_per_connection > 5 {
            return invalid(
                "enable.idempotence requires max.in.flight.requests.per.connection <= 5",
            );
        }
        if self.batch_size == 0 || self.buffer_memory == 0 || self.max_request_size == 0 {
            return invalid("batch.size, buffer.memory and max.request.size must be positive");
        }
        if self.delivery_timeout_ms < self.linger_ms + self.client.request_timeout_ms {
            return invalid("delivery.timeout.ms must be at least linger.ms + request.timeout.ms");
        }
        if let Some(level) = self.compression_zstd_level
            && !(1..=22).contains(&level)
        {
            return invalid("compression.zstd.level must be within 1..=22");
        }
        if let Some(level) = self.compression_gzip_level
            && !(1..=9).contains(&level)
        {
            return invalid("compression.gzip.level must be within 1..=9");
        }
        Ok(())
    }

    /// The codec named by `compression_type`.
    ///
    /// # Errors
    /// [`ProducerError::Config`] for an unknown name.
    pub fn compression(&self) -> Result<Compression, ProducerError> {
        self.compression_type
            .parse()
            .map_err(|error: sluice_protocol::UnknownCompressionName| {
                ProducerError::Config(error.to_string())
            })
    }

    /// The level for the configured codec, when it has one.
    pub fn compression_level(&self) -> Option<i32> {
        match self.compression() {
            Ok(Compression::Zstd) => self.compression_zstd_level,
            Ok(Compression::Gzip) => self.compression_gzip_level,
            _ => None,
        }
    }

    /// The size a full batch may grow to: `batch.max.size` within
    /// `max.request.size`, and never below `batch.size` (a smaller
    /// `batch.max.size` turns growing off rather than failing).
    pub fn batch_growth_limit(&self) -> usize {
        self.batch_max_size
            .min(self.max_request_size)
            .max(self.batch_size)
    }

    /// `linger_ms` as a duration.
    pub fn linger(&self) -> Duration {
        Duration::from_millis(self.linger_ms)
    }

    /// `max_block_ms` as a duration.
    pub fn max_block(&self) -> Duration {
        Duration::from_millis(self.max_block_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_idempotent_acks_all_lz4() {
        let config = ProducerConfig::default();
        assert_eq!(config.acks, Acks::All);
        assert!(config.enable_idempotence);
        assert_eq!(config.compression().ok(), Some(Compression::Lz4));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn idempotence_without_acks_all_is_rejected() {
        let config = ProducerConfig {
            acks: Acks::Leader,
            ..ProducerConfig::default()
        };
        assert!(matches!(config.validate(), Err(ProducerError::Config(_))));
    }

    #[test]
    fn kafka_dotted_names_deserialize() -> Result<(), toml::de::Error> {
        let config: ProducerConfig = toml::from_str(
            "acks = \"1\"\n\"linger.ms\" = 20\n\"compression.type\" = \"zstd\"\n\"enable.idempotence\" = false\n",
        )?;
        assert_eq!(config.acks, Acks::Leader);
        assert_eq!(config.linger_ms, 20);
        assert_eq!(config.compression().ok(), Some(Compression::Zstd));
        assert!(!config.enable_idempotence);
        Ok(())
    }
}
