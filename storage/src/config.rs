//! Per-partition log configuration, named after Kafka's topic-level configs.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// How a record's timestamp is set (`message.timestamp.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps (Kafka's default).
    #[default]
    CreateTime,
    /// The broker stamps each batch with its append time.
    LogAppendTime,
}

/// What happens to old segments (`cleanup.policy`). Compaction is recorded only:
/// a log whose policy lacks `delete` is never trimmed by retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CleanupPolicy {
    /// Delete whole segments by `retention.ms` / `retention.bytes`.
    #[default]
    #[serde(rename = "delete")]
    Delete,
    /// Keep the latest value per key (not implemented; retention is skipped).
    #[serde(rename = "compact")]
    Compact,
    /// Both: retention still applies.
    #[serde(rename = "compact,delete")]
    CompactDelete,
}

impl CleanupPolicy {
    /// Whether retention may delete segments under this policy.
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }

    fn as_kafka_str(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }
}

/// Configuration of one partition's log.
///
/// Fields are Kafka's topic-level names with dots turned into underscores; the
/// defaults are Kafka's (`Default`). `i64::MAX` for the flush settings means
/// "leave flushing to the operating system", as Kafka does by default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `segment.bytes`: roll a new segment when the active one would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first append is this old.
    pub segment_ms: i64,
    /// `segment.index.bytes`: the largest each index file of the active segment
    /// may grow to; an index that would exceed it rolls the segment.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: log bytes between two offset-index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete sealed segments whose newest record is older; -1 keeps
    /// forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest sealed segments while the log is larger;
    /// -1 means no size limit.
    pub retention_bytes: i64,
    /// `flush.messages`: fsync after this many appended records.
    pub flush_interval_messages: i64,
    /// `flush.ms`: fsync when the last flush is this old (checked on append and by
    /// [`crate::Log::flush_if_due`]).
    pub flush_interval_ms: i64,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `cleanup.policy` (compaction itself is not implemented).
    pub cleanup_policy: CleanupPolicy,
    /// `max.message.bytes`: the largest record batch accepted.
    pub max_message_bytes: u64,
    /// Not a Kafka setting: the first `fallocate` reservation of an active
    /// segment's `.log` (the first batch rounded up to a page when that is
    /// bigger). Each later reservation doubles the file, so a partition's
    /// reserved disk follows what it receives: one CreateTopics of thousands of
    /// partitions reserves a few KiB each, not a step each.
    pub preallocate_initial_bytes: u64,
    /// Not a Kafka setting: the largest `fallocate` step of an active segment's
    /// `.log`. Reservations double the file (from `preallocate_initial_bytes`)
    /// until they reach this size and then grow by it, so a full disk is an
    /// `ENOSPC` error at append time, never a SIGBUS, while a busy partition
    /// reserves few, big steps. Kafka does not preallocate by default.
    pub preallocate_step_bytes: u64,
    /// Not a Kafka setting: the largest `fallocate` step of the active
    /// segment's `.index` and `.timeindex` (rounded down to whole entries, at
    /// least one). Each starts at one page (or this step if smaller) and
    /// doubles until it grows by this step, up to `segment.index.bytes`. Kafka
    /// preallocates index files sparsely; ours are written through a memory
    /// map, where a hole on a full disk would be a SIGBUS, so their space is
    /// really reserved, and small first steps keep thousands of idle partitions
    /// from each reserving much.
    pub index_preallocate_step_bytes: u64,
    /// Not a Kafka setting: the bytes at the end of the active segment kept in
    /// the page cache for tailing readers. Older data is written back early and
    /// dropped from the cache, and readers of older data drop what they passed
    /// (`page_cache` module), so freed pages are reused instead of the kernel
    /// caching every byte ever written. `0` leaves the page cache to the kernel,
    /// as Kafka does.
    pub page_cache_window_bytes: u64,
    /// `num.recovery.threads.per.data.dir` (a broker setting, so absent from
    /// [`LogConfig::entries`] and refused by [`LogConfig::set`]; read from the
    /// default config given to [`crate::LogManager::open`]): threads that open
    /// partitions at start, and that scan the segments after a partition's
    /// recovery point after an unclean stop. At least 1. Kafka's default is 1;
    /// ours is one per CPU (`available_parallelism`), because scanning is
    /// bound by the CPU (the CRC-32C pass is the first touch of every byte
    /// read from disk), not by the disk, on the machines measured.
    pub num_recovery_threads_per_data_dir: usize,
}

/// The unit of disk reservations: the page size, which is also the block
/// size of the usual Linux filesystems, so reserving less saves nothing.
pub(crate) const PAGE_BYTES: u64 = 4096;

/// Blocks a partition takes besides its segment files: its directory, its
/// `partition.metadata` and its recovery-point checkpoint.
const PARTITION_METADATA_BLOCKS: u64 = 3;

/// The first reservation of an active segment's index file whose growth step
/// is `index_preallocate_step_bytes`: a page, or one step when that is smaller.
pub(crate) fn first_index_step_bytes(index_preallocate_step_bytes: u64) -> u64 {
    PAGE_BYTES.min(index_preallocate_step_bytes)
}

/// Kafka's upper bound for `segment.bytes` and the index files: positions are
/// stored as 32-bit values.
const MAX_FILE_BYTES: u64 = i32::MAX as u64;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            flush_interval_messages: i64::MAX,
            flush_interval_ms: i64::MAX,
            message_timestamp_type: TimestampType::CreateTime,
            cleanup_policy: CleanupPolicy::Delete,
            max_message_bytes: 1_048_588,
            preallocate_initial_bytes: PAGE_BYTES,
            preallocate_step_bytes: 16 * 1024 * 1024,
            index_preallocate_step_bytes: 64 * 1024,
            page_cache_window_bytes: 64 * 1024 * 1024,
            num_recovery_threads_per_data_dir: std::thread::available_parallelism()
                .map_or(1, std::num::NonZeroUsize::get),
        }
    }
}

impl LogConfig {
    /// Applies one Kafka topic-level config, such as `retention.ms=60000`, checking
    /// the value against Kafka's allowed range.
    ///
    /// # Errors
    /// [`ConfigError::Unknown`] for a name storage does not own, and
    /// [`ConfigError::InvalidValue`] for a value out of range.
    pub fn set(&mut self, kafka_name: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |reason| ConfigError::InvalidValue {
            name: kafka_name.to_owned(),
            value: value.to_owned(),
            reason,
        };
        match kafka_name {
            "segment.bytes" => {
                self.segment_bytes = parse_u64(value, 14, MAX_FILE_BYTES)
                    .ok_or_else(|| invalid("an integer in [14, 2147483647]"))?
            }
            "segment.ms" => {
                self.segment_ms = parse_i64(value, 1).ok_or_else(|| invalid("an integer >= 1"))?
            }
            "segment.index.bytes" => {
                self.segment_index_bytes = parse_u64(value, 4, MAX_FILE_BYTES)
                    .ok_or_else(|| invalid("an integer in [4, 2147483647]"))?
            }
            "index.interval.bytes" => {
                self.index_interval_bytes = parse_u64(value, 0, MAX_FILE_BYTES)
                    .ok_or_else(|| invalid("an integer in [0, 2147483647]"))?
            }
            "retention.ms" => {
                self.retention_ms =
                    parse_i64(value, -1).ok_or_else(|| invalid("an integer >= -1"))?
            }
            "retention.bytes" => {
                self.retention_bytes =
                    parse_i64(value, -1).ok_or_else(|| invalid("an integer >= -1"))?
            }
            "flush.messages" => {
                self.flush_interval_messages =
                    parse_i64(value, 1).ok_or_else(|| invalid("an integer >= 1"))?
            }
            "flush.ms" => {
                self.flush_interval_ms =
                    parse_i64(value, 0).ok_or_else(|| invalid("an integer >= 0"))?
            }
            "max.message.bytes" => {
                self.max_message_bytes = parse_u64(value, 0, MAX_FILE_BYTES)
                    .ok_or_else(|| invalid("an integer in [0, 2147483647]"))?
            }
            "message.timestamp.type" => {
                self.message_timestamp_type = match value {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(invalid("CreateTime or LogAppendTime")),
                }
            }
            "cleanup.policy" => {
                self.cleanup_policy = parse_cleanup_policy(value)
                    .ok_or_else(|| invalid("delete, compact or compact,delete"))?
            }
            _ => {
                return Err(ConfigError::Unknown {
                    name: kafka_name.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The first reservation of an active segment's `.log` for a small first
    /// batch: `preallocate_initial_bytes` (at most a step), rounded up to a
    /// page, never more than `segment.bytes`.
    fn first_log_reservation_bytes(&self) -> u64 {
        self.preallocate_initial_bytes
            .min(self.preallocate_step_bytes)
            .max(1)
            .next_multiple_of(PAGE_BYTES)
            .min(self.segment_bytes)
    }

    /// The disk a new partition takes once it holds its first small batch: the
    /// first reservation of its `.log` and of both indexes, each rounded up to
    /// a filesystem block, plus the blocks of its directory and small files.
    /// The broker checks free space against this before creating partitions.
    pub fn partition_initial_reservation_bytes(&self) -> u64 {
        let blocks = |bytes: u64| bytes.next_multiple_of(PAGE_BYTES);
        blocks(self.first_log_reservation_bytes())
            + 2 * blocks(first_index_step_bytes(self.index_preallocate_step_bytes))
            + PARTITION_METADATA_BLOCKS * PAGE_BYTES
    }

    /// All topic-level configs this log owns as `(kafka_name, value)`, in the form
    /// DescribeConfigs reports them. The preallocation settings are not Kafka
    /// settings (no topic can set them), so they are absent here and configured
    /// only through the broker's `[log]` table (serde).
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let timestamp_type = match self.message_timestamp_type {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        };
        vec![
            (
                "cleanup.policy",
                self.cleanup_policy.as_kafka_str().to_owned(),
            ),
            ("flush.messages", self.flush_interval_messages.to_string()),
            ("flush.ms", self.flush_interval_ms.to_string()),
            (
                "index.interval.bytes",
                self.index_interval_bytes.to_string(),
            ),
            ("max.message.bytes", self.max_message_bytes.to_string()),
            ("message.timestamp.type", timestamp_type.to_owned()),
            ("retention.bytes", self.retention_bytes.to_string()),
            ("retention.ms", self.retention_ms.to_string()),
            ("segment.bytes", self.segment_bytes.to_string()),
            ("segment.index.bytes", self.segment_index_bytes.to_string()),
            ("segment.ms", self.segment_ms.to_string()),
        ]
    }
}

fn parse_u64(value: &str, min: u64, max: u64) -> Option<u64> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
}

fn parse_i64(value: &str, min: i64) -> Option<i64> {
    value.trim().parse::<i64>().ok().filter(|v| *v >= min)
}

fn parse_cleanup_policy(value: &str) -> Option<CleanupPolicy> {
    let mut delete = false;
    let mut compact = false;
    for part in value.split(',').map(str::trim) {
        match part {
            "delete" => delete = true,
            "compact" => compact = true,
            _ => return None,
        }
    }
    match (delete, compact) {
        (true, false) => Some(CleanupPolicy::Delete),
        (false, true) => Some(CleanupPolicy::Compact),
        (true, true) => Some(CleanupPolicy::CompactDelete),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_round_trips_through_set() {
        let mut config = LogConfig {
            retention_ms: 1234,
            cleanup_policy: CleanupPolicy::CompactDelete,
            message_timestamp_type: TimestampType::LogAppendTime,
            ..LogConfig::default()
        };
        config.set("segment.bytes", "4096").ok();
        let mut copy = LogConfig::default();
        for (name, value) in config.entries() {
            copy.set(name, &value).map_err(|e| e.to_string()).unwrap();
        }
        assert_eq!(copy, config);
    }

    #[test]
    fn set_rejects_unknown_names_and_out_of_range_values() {
        let mut config = LogConfig::default();
        assert!(matches!(
            config.set("min.insync.replicas", "2"),
            Err(ConfigError::Unknown { .. })
        ));
        assert!(matches!(
            config.set("segment.bytes", "3000000000"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            config.set("retention.ms", "-2"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert_eq!(config, LogConfig::default());
    }
}
