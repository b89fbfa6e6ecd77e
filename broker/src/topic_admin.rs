//! Creating, deleting, growing and reconfiguring topics.
//!
//! Every operation validates first, then persists the registry, then touches
//! logs, so a failure leaves either the old or the new topic, never a mix that
//! a restart could not explain.

use std::collections::BTreeMap;

use sluice_protocol::ErrorCode;
use tracing::{info, warn};

use crate::broker::{Broker, RECORDED_TOPIC_CONFIGS};
use crate::topics::{TopicMeta, validate_topic_name};

/// Kafka's cap on partitions per topic request; a limit, not a target.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 10_000;

fn registry_error(e: &crate::topics::RegistryError) -> ErrorCode {
    warn!(
        error = e as &dyn std::error::Error,
        "cannot persist the topic registry"
    );
    ErrorCode::KafkaStorageError
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
    /// INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS or
    /// INVALID_CONFIG.
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), ErrorCode> {
        validate_topic_name(name)?;
        if self.topic(name).is_some() {
            return Err(ErrorCode::TopicAlreadyExists);
        }
        if !(1..=MAX_PARTITIONS_PER_TOPIC).contains(&partitions) {
            return Err(ErrorCode::InvalidPartitions);
        }
        self.log_config_for(configs).map(|_| ())
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
        self.validate_new_topic(name, partitions, &configs)?;
        let topic = TopicMeta {
            name: name.to_owned(),
            topic_id: uuid::Uuid::new_v4(),
            partitions,
            configs,
            internal,
        };
        self.with_registry(|r| r.insert(topic.clone()))
            .map_err(|e| registry_error(&e))?;
        self.open_partitions(&topic, 0)?;
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
        self.drop_partitions(&topic)?;
        info!(topic = name, "topic deleted");
        Ok(topic)
    }

    /// Grows a topic to `count` partitions.
    ///
    /// # Errors
    /// UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS when `count` does not
    /// grow the topic, or a storage code.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), ErrorCode> {
        let mut topic = self.topic(name).ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if count <= topic.partitions || count > MAX_PARTITIONS_PER_TOPIC {
            return Err(ErrorCode::InvalidPartitions);
        }
        if validate_only {
            return Ok(());
        }
        let first_new = topic.partitions;
        topic.partitions = count;
        self.with_registry(|r| r.insert(topic.clone()))
            .map_err(|e| registry_error(&e))?;
        self.open_partitions(&topic, first_new)?;
        info!(topic = name, partitions = count, "partitions added");
        Ok(())
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
