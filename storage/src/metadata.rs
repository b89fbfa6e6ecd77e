//! `partition.metadata`: the topic id and the topic's overridden configs, kept
//! next to the log so a restart restores them without the controller.

use std::collections::BTreeMap;
use std::path::Path;

use crate::checkpoint::{read_checked, write_checked};
use crate::error::StorageError;

/// File name inside the partition directory.
pub(crate) const METADATA_FILE: &str = "partition.metadata";

/// What a partition stores about its topic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// The topic id as the broker spells it (e.g. a UUID string), if known.
    pub topic_id: Option<String>,
    /// Topic-level config overrides by Kafka name (e.g. `retention.ms`), applied
    /// on top of the default config when the log is opened.
    pub config_overrides: BTreeMap<String, String>,
}

impl PartitionMetadata {
    /// Durably writes the metadata into `dir`.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), StorageError> {
        let mut body = String::from("version: 0\n");
        if let Some(id) = &self.topic_id {
            body.push_str(&format!("topic_id: {id}\n"));
        }
        for (name, value) in &self.config_overrides {
            body.push_str(&format!("config.{name}: {value}\n"));
        }
        write_checked(&dir.join(METADATA_FILE), &body)
    }

    /// Reads the metadata of `dir`; empty when the file does not exist.
    pub(crate) fn read(dir: &Path) -> Result<PartitionMetadata, StorageError> {
        let path = dir.join(METADATA_FILE);
        let Some(body) = read_checked(&path)? else {
            return Ok(PartitionMetadata::default());
        };
        let mut metadata = PartitionMetadata::default();
        for line in body.lines().skip(1) {
            let Some((key, value)) = line.split_once(": ") else {
                return Err(StorageError::CorruptFile {
                    path,
                    reason: format!("unreadable line `{line}`"),
                });
            };
            match key.strip_prefix("config.") {
                Some(name) => {
                    metadata
                        .config_overrides
                        .insert(name.to_owned(), value.to_owned());
                }
                None if key == "topic_id" => metadata.topic_id = Some(value.to_owned()),
                None => {
                    tracing::warn!(path = %path.display(), key, "ignoring unknown partition metadata key")
                }
            }
        }
        Ok(metadata)
    }
}
