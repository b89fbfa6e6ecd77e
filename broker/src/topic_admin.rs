//! Creating, deleting, growing and reconfiguring topics.
//!
//! Every operation validates first, then persists the registry, then touches
//! logs, so a failure leaves either the old or the new topic, never a mix that
//! a restart could not explain: when creating logs fails half-way, the
//! registry entry and the logs already created are taken back.
//!
//! New partitions must fit the data directory: a topic (or a growth of one)
//! whose partitions' first disk reservations
//! ([`LogConfig::partition_initial_reservation_bytes`]) exceed the free space
//! of the data directory's filesystem is refused with POLICY_VIOLATION, from
//! CreateTopics, CreatePartitions and auto-creation alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use sluice_protocol::ErrorCode;
use sluice_storage::{LogConfig, disk_space};
use tracing::{info, warn};

use crate::broker::{Broker, RECORDED_TOPIC_CONFIGS, now_ms};
use crate::topics::{TopicMeta, validate_topic_name};

/// Kafka's cap on partitions per topic request; a limit, not a target.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 10_000;

fn registry_error(e: &crate::topics::RegistryError) -> ErrorCode {
    warn!(error = %e, "cannot persist the topic registry");
    ErrorCode::KafkaStorageError
}

/// New partitions whose first disk reservations do not fit the free space of
/// the data directory's filesystem. Answered as POLICY_VIOLATION, with this
/// error's text as the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not enough free disk for {partitions} new partitions: they need {needed_bytes} bytes \
     ({per_partition_bytes} each for their first reservations) but the filesystem of {} \
     has {usable_bytes} bytes free",
    data_dir.display()
)]
pub struct NoRoomForPartitions {
    /// Partitions the request would create.
    pub partitions: i32,
    /// Disk each takes when it receives its first small batch.
    pub per_partition_bytes: u64,
    /// `partitions * per_partition_bytes`.
    pub needed_bytes: u64,
    /// Free bytes an unprivileged writer may use on the data directory's filesystem.
    pub usable_bytes: u64,
    /// The data directory.
    pub data_dir: PathBuf,
}

impl NoRoomForPartitions {
    /// The Kafka error code of the refusal.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::PolicyViolation
    }
}

/// Checks that `partitions` new partitions, each taking `per_partition_bytes`,
/// fit `usable_bytes` of free space in `data_dir`'s filesystem.
fn check_room(
    partitions: i32,
    per_partition_bytes: u64,
    usable_bytes: u64,
    data_dir: &Path,
) -> Result<(), NoRoomForPartitions> {
    let count = u64::try_from(partitions).unwrap_or(0);
    let needed_bytes = count.saturating_mul(per_partition_bytes);
    if needed_bytes <= usable_bytes {
        return Ok(());
    }
    Err(NoRoomForPartitions {
        partitions,
        per_partition_bytes,
        needed_bytes,
        usable_bytes,
        data_dir: data_dir.to_owned(),
    })
}

/// Shortest time between two warnings about the free-space check, so a
/// client that keeps asking (auto-creation by Metadata) cannot flood the log.
const REFUSAL_WARNING_INTERVAL_MS: i64 = 10_000;

/// When the last such warning was logged (ms since the epoch).
static LAST_REFUSAL_WARNING_MS: AtomicI64 = AtomicI64::new(i64::MIN);

/// Logs `what: detail` as a warning unless one was logged less than
/// [`REFUSAL_WARNING_INTERVAL_MS`] ago.
fn warn_rate_limited(topic: &str, what: &str, detail: &dyn std::fmt::Display) {
    let now = now_ms();
    let last = LAST_REFUSAL_WARNING_MS.load(Ordering::Relaxed);
    let due = last == i64::MIN || now.saturating_sub(last) >= REFUSAL_WARNING_INTERVAL_MS;
    if due
        && LAST_REFUSAL_WARNING_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        warn!(topic, "{what}: {detail}");
    }
}

/// Why creating a topic or partitions was refused: a Kafka error code, or
/// new partitions that do not fit the free disk (POLICY_VIOLATION, with a
/// message for the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreationRefusal {
    /// A refusal the error code says all about.
    #[error("{}", .0.name())]
    Code(ErrorCode),
    /// Not enough free disk.
    #[error(transparent)]
    NoRoom(NoRoomForPartitions),
}

impl CreationRefusal {
    /// The Kafka error code of the refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            CreationRefusal::Code(code) => *code,
            CreationRefusal::NoRoom(refusal) => refusal.code(),
        }
    }
}

impl From<ErrorCode> for CreationRefusal {
    fn from(code: ErrorCode) -> Self {
        CreationRefusal::Code(code)
    }
}

/// One topic config as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfigEntry {
    /// Kafka name (`retention.ms`).
    pub name: String,
    /// Effective value.
    pub value: String,
    /// Whether the topic overrides the broker default.
    pub is_override: bool,
}

/// Topic configs whose value is a list. Kafka keeps a list's items in the
/// order given, while the log config reduces them to a set
/// (`delete,compact` parses as `compact,delete`), so such an override is
/// reported as it was written, items trimmed.
const LIST_TOPIC_CONFIGS: &[&str] = &["cleanup.policy"];

/// The value DescribeConfigs reports for override `stored` of `name`, whose
/// parsed, effective form is `effective`.
fn described_override(name: &str, stored: &str, effective: String) -> String {
    if LIST_TOPIC_CONFIGS.contains(&name) {
        stored
            .split(',')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(",")
    } else {
        effective
    }
}

impl Broker {
    /// Every config of `topic` with its effective value, in name order.
    ///
    /// # Errors
    /// INVALID_CONFIG when the stored overrides no longer apply.
    pub fn topic_config_entries(
        &self,
        topic: &TopicMeta,
    ) -> Result<Vec<TopicConfigEntry>, ErrorCode> {
        let log_config = self.log_config_for(&topic.configs)?;
        let mut entries: BTreeMap<String, TopicConfigEntry> = log_config
            .entries()
            .into_iter()
            .map(|(name, value)| {
                let stored = topic.configs.get(name);
                let entry = TopicConfigEntry {
                    name: name.to_owned(),
                    value: match stored {
                        Some(stored) => described_override(name, stored, value),
                        None => value,
                    },
                    is_override: stored.is_some(),
                };
                (name.to_owned(), entry)
            })
            .collect();
        for (name, value) in &topic.configs {
            entries
                .entry(name.clone())
                .or_insert_with(|| TopicConfigEntry {
                    name: name.clone(),
                    value: value.clone(),
                    is_override: true,
                });
        }
        // The recorded-only configs a topic does not override, at Kafka's
        // defaults, so `kafka-configs --describe --all` lists them too.
        for (name, default) in RECORDED_TOPIC_CONFIGS {
            entries
                .entry((*name).to_owned())
                .or_insert_with(|| TopicConfigEntry {
                    name: (*name).to_owned(),
                    value: (*default).to_owned(),
                    is_override: false,
                });
        }
        Ok(entries.into_values().collect())
    }

    /// Checks a create request without changing anything.
    ///
    /// # Errors
    /// INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS,
    /// INVALID_CONFIG, or POLICY_VIOLATION when the partitions do not fit the
    /// free disk ([`Broker::check_room_for_partitions`]).
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), CreationRefusal> {
        validate_topic_name(name)?;
        if self.topic(name).is_some() {
            return Err(ErrorCode::TopicAlreadyExists.into());
        }
        if !(1..=MAX_PARTITIONS_PER_TOPIC).contains(&partitions) {
            return Err(ErrorCode::InvalidPartitions.into());
        }
        let log_config = self.log_config_for(configs)?;
        self.check_room_for_partitions(partitions, &log_config)
            .map_err(|refusal| {
                warn_rate_limited(name, "refused", &refusal);
                CreationRefusal::NoRoom(refusal)
            })
    }

    /// Checks that `partitions` new partitions with `log_config` fit the free
    /// space of the data directory's filesystem (`statvfs`), counting for
    /// each the disk it takes once it holds a first small batch. When the
    /// free space cannot be read, the creation goes ahead: a full disk is
    /// still an ENOSPC that takes the new topic back.
    ///
    /// # Errors
    /// [`NoRoomForPartitions`] when they do not fit.
    pub fn check_room_for_partitions(
        &self,
        partitions: i32,
        log_config: &LogConfig,
    ) -> Result<(), NoRoomForPartitions> {
        let data_dir = &self.config().data_dir;
        let usable_bytes = match disk_space(data_dir) {
            Ok(space) => space.usable_bytes,
            Err(error) => {
                let what = "cannot read the data directory's free space; creating unchecked";
                warn_rate_limited("", what, &error);
                return Ok(());
            }
        };
        check_room(
            partitions,
            log_config.partition_initial_reservation_bytes(),
            usable_bytes,
            data_dir,
        )
    }

    /// Creates a topic with `partitions` partitions and config overrides.
    ///
    /// # Errors
    /// The codes of [`Broker::validate_new_topic`], or a storage code.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        internal: bool,
    ) -> Result<TopicMeta, ErrorCode> {
        self.validate_new_topic(name, partitions, &configs)
            .map_err(|refusal| refusal.code())?;
        let topic = TopicMeta {
            name: name.to_owned(),
            topic_id: uuid::Uuid::new_v4(),
            partitions,
            configs,
            internal,
        };
        self.with_registry(|r| r.insert(topic.clone()))
            .map_err(|e| registry_error(&e))?;
        if let Err(code) = self.open_partitions(&topic, 0) {
            warn!(
                topic = name,
                partitions,
                error = code.name(),
                "creating the topic's logs failed; taking it back"
            );
            self.take_back(&topic, 0, None);
            return Err(code);
        }
        info!(topic = name, partitions, "topic created");
        Ok(topic)
    }

    /// Deletes a topic and its logs.
    ///
    /// # Errors
    /// UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION for internal topics,
    /// or a storage code.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, ErrorCode> {
        let topic = self.topic(name).ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if topic.internal {
            return Err(ErrorCode::InvalidTopicException);
        }
        self.with_registry(|r| r.remove(name))
            .map_err(|e| registry_error(&e))?;
        self.drop_partitions(&topic, 0)?;
        info!(topic = name, "topic deleted");
        Ok(topic)
    }

    /// Checks that `name` exists and may grow to `count` partitions that fit
    /// the free disk; returns the topic as it is now.
    ///
    /// # Errors
    /// UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS when `count` does not
    /// grow the topic, INVALID_CONFIG when its overrides no longer apply, or
    /// the refusal of [`Broker::check_room_for_partitions`].
    pub fn validate_new_partitions(
        &self,
        name: &str,
        count: i32,
    ) -> Result<TopicMeta, CreationRefusal> {
        let topic = self.topic(name).ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if count <= topic.partitions || count > MAX_PARTITIONS_PER_TOPIC {
            return Err(ErrorCode::InvalidPartitions.into());
        }
        let log_config = self.log_config_for(&topic.configs)?;
        self.check_room_for_partitions(count - topic.partitions, &log_config)
            .map_err(|refusal| {
                warn_rate_limited(name, "refused", &refusal);
                CreationRefusal::NoRoom(refusal)
            })?;
        Ok(topic)
    }

    /// Grows a topic to `count` partitions.
    ///
    /// # Errors
    /// The refusals of [`Broker::validate_new_partitions`], or a storage
    /// code (the topic keeps its old partitions then).
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), CreationRefusal> {
        let old = self.validate_new_partitions(name, count)?;
        if validate_only {
            return Ok(());
        }
        let grown = TopicMeta {
            partitions: count,
            ..old.clone()
        };
        self.with_registry(|r| r.insert(grown.clone()))
            .map_err(|e| registry_error(&e))?;
        if let Err(code) = self.open_partitions(&grown, old.partitions) {
            warn!(
                topic = name,
                partitions = count,
                error = code.name(),
                "creating the new partitions' logs failed; taking them back"
            );
            self.take_back(&grown, old.partitions, Some(old));
            return Err(code.into());
        }
        info!(topic = name, partitions = count, "partitions added");
        Ok(())
    }

    /// Undoes a creation whose logs could not all be created: deletes the logs
    /// of `topic`'s partitions from `first` on (first, as they free the disk
    /// the registry write may need), then puts `previous` back in the
    /// registry, or removes the topic when there is none. Best effort: what
    /// cannot be undone is logged, and a restart finishes the job (the logs of
    /// partitions the registry does not know are deleted at open).
    fn take_back(&self, topic: &TopicMeta, first: i32, previous: Option<TopicMeta>) {
        if let Err(code) = self.drop_partitions(topic, first) {
            warn!(topic = %topic.name, error = code.name(), "cannot delete the logs of a failed creation");
        }
        let restored = match previous {
            Some(previous) => self.with_registry(|r| r.insert(previous)),
            None => self.with_registry(|r| r.remove(&topic.name).map(|_| ())),
        };
        if let Err(error) = restored {
            warn!(topic = %topic.name, %error, "cannot take the failed creation back from the registry");
        }
    }

    /// Replaces a topic's config overrides and applies them to its open logs.
    ///
    /// # Errors
    /// UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG, or a storage code.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ErrorCode> {
        let mut topic = self.topic(name).ok_or(ErrorCode::UnknownTopicOrPartition)?;
        let log_config = self.log_config_for(&configs)?;
        if validate_only {
            return Ok(());
        }
        topic.configs = configs;
        self.with_registry(|r| r.insert(topic.clone()))
            .map_err(|e| registry_error(&e))?;
        for partition in 0..topic.partitions {
            if let Some(opened) = self.partition(name, partition) {
                opened.with_state(|state| {
                    state.log.set_config(log_config.clone());
                    Ok(())
                })?;
            }
        }
        info!(topic = name, "topic configs altered");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_that_fit_the_free_disk_are_allowed() {
        let dir = Path::new("/data");
        assert_eq!(check_room(100, 24_576, 100 * 24_576, dir), Ok(()));
        assert_eq!(check_room(1, 24_576, 1 << 40, dir), Ok(()));
    }

    #[test]
    fn partitions_beyond_the_free_disk_are_refused_with_the_figures() {
        let refusal = check_room(2_000, 24_576, 10 << 20, Path::new("/data"))
            .err()
            .unwrap_or_else(|| panic!("2,000 partitions of 24 KiB do not fit 10 MiB"));
        assert_eq!(refusal.code(), ErrorCode::PolicyViolation);
        assert_eq!(refusal.needed_bytes, 2_000 * 24_576);
        let message = refusal.to_string();
        for figure in [
            "2000 new partitions",
            "49152000 bytes",
            "24576 each",
            "10485760 bytes free",
            "/data",
        ] {
            assert!(message.contains(figure), "{message:?} says {figure:?}");
        }
    }

    #[test]
    fn a_huge_reservation_does_not_overflow_into_a_fit() {
        assert!(check_room(10_000, u64::MAX / 2, u64::MAX - 1, Path::new("/data")).is_err());
    }

    #[test]
    fn list_override_keeps_the_order_it_was_written_in() {
        let described = described_override(
            "cleanup.policy",
            "delete, compact",
            "compact,delete".to_owned(),
        );
        assert_eq!(described, "delete,compact");
    }

    #[test]
    fn other_overrides_are_reported_as_parsed() {
        let described = described_override("retention.ms", " 60000", "60000".to_owned());
        assert_eq!(described, "60000");
    }
}
