//! The topic registry: names, topic ids, partition counts and config overrides.
//!
//! On a single node the registry is the metadata: it is kept in memory and
//! persisted to `<data>/topics.toml` (a CRC-32 line, then TOML), written
//! atomically (temp file, fsync, rename, fsync of the directory) so a restart
//! restores every topic with its id and configs, and a torn write is detected.
//! The registry also persists the next producer id, so ids handed out by
//! InitProducerId are never reused after a restart.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_protocol::ErrorCode;
use uuid::Uuid;

/// The registry's file name inside the data directory.
pub const TOPICS_FILE: &str = "topics.toml";

/// Kafka's longest legal topic name.
pub const MAX_TOPIC_NAME_CHARS: usize = 249;

/// One topic as the broker knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    /// The topic's name.
    pub name: String,
    /// The id Kafka clients use since KIP-516.
    #[serde(with = "uuid_text")]
    pub topic_id: Uuid,
    /// Number of partitions (ids `0..partitions`).
    pub partitions: i32,
    /// Topic-level config overrides, by Kafka name (`retention.ms`).
    pub configs: BTreeMap<String, String>,
    /// Whether the topic is internal (`__consumer_offsets`).
    pub internal: bool,
}

/// What is persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RegistryFile {
    next_producer_id: i64,
    topics: Vec<TopicMeta>,
}

/// Why the registry could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Reading or writing the file failed.
    #[error("topic registry i/o on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's checksum does not match or its content does not parse.
    #[error("topic registry {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// The topics of this node, persisted on every change.
#[derive(Debug)]
pub struct TopicRegistry {
    path: PathBuf,
    state: RegistryFile,
}

/// Checks a topic name the way Kafka does; the error code is
/// INVALID_TOPIC_EXCEPTION.
///
/// # Errors
/// [`ErrorCode::InvalidTopicException`] for empty, `.`/`..`, too long names, or
/// characters outside `[a-zA-Z0-9._-]`.
pub fn validate_topic_name(name: &str) -> Result<(), ErrorCode> {
    let legal_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let valid = !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= MAX_TOPIC_NAME_CHARS
        && name.chars().all(legal_char);
    if valid {
        Ok(())
    } else {
        Err(ErrorCode::InvalidTopicException)
    }
}

impl TopicRegistry {
    /// Loads the registry from `data_dir`, or starts an empty one.
    ///
    /// # Errors
    /// [`RegistryError`] when the file exists but cannot be read or is corrupt.
    pub fn load(data_dir: &Path) -> Result<Self, RegistryError> {
        let path = data_dir.join(TOPICS_FILE);
        let state = match std::fs::read_to_string(&path) {
            Ok(text) => decode(&text).map_err(|reason| RegistryError::Corrupt {
                path: path.clone(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RegistryFile::default(),
            Err(source) => return Err(RegistryError::Io { path, source }),
        };
        Ok(Self { path, state })
    }

    /// Every topic, in name order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicMeta> {
        self.state.topics.iter()
    }

    /// The topic called `name`.
    pub fn get(&self, name: &str) -> Option<&TopicMeta> {
        self.state.topics.iter().find(|t| t.name == name)
    }

    /// The topic with id `topic_id`.
    pub fn get_by_id(&self, topic_id: Uuid) -> Option<&TopicMeta> {
        self.state.topics.iter().find(|t| t.topic_id == topic_id)
    }

    /// Adds a topic and persists the registry.
    ///
    /// # Errors
    /// [`RegistryError`] when the file cannot be written (the topic is not added).
    pub fn insert(&mut self, topic: TopicMeta) -> Result<(), RegistryError> {
        let mut next = self.state.clone();
        next.topics.retain(|t| t.name != topic.name);
        next.topics.push(topic);
        next.topics.sort_by(|a, b| a.name.cmp(&b.name));
        self.commit(next)
    }

    /// Removes a topic and persists the registry; returns it if it existed.
    ///
    /// # Errors
    /// [`RegistryError`] when the file cannot be written (the topic is kept).
    pub fn remove(&mut self, name: &str) -> Result<Option<TopicMeta>, RegistryError> {
        let mut next = self.state.clone();
        let Some(index) = next.topics.iter().position(|t| t.name == name) else {
            return Ok(None);
        };
        let removed = next.topics.remove(index);
        self.commit(next)?;
        Ok(Some(removed))
    }

    /// Hands out the next producer id and persists the counter first, so an id
    /// is never reused even after a crash.
    ///
    /// # Errors
    /// [`RegistryError`] when the counter cannot be persisted.
    pub fn allocate_producer_id(&mut self) -> Result<i64, RegistryError> {
        let mut next = self.state.clone();
        let id = next.next_producer_id;
        next.next_producer_id = id + 1;
        self.commit(next)?;
        Ok(id)
    }

    /// Makes sure future producer ids are above `seen` (one found in the log).
    ///
    /// # Errors
    /// [`RegistryError`] when the counter cannot be persisted.
    pub fn observe_producer_id(&mut self, seen: i64) -> Result<(), RegistryError> {
        if seen < self.state.next_producer_id {
            return Ok(());
        }
        let mut next = self.state.clone();
        next.next_producer_id = seen + 1;
        self.commit(next)
    }

    fn commit(&mut self, next: RegistryFile) -> Result<(), RegistryError> {
        write_atomically(&self.path, &encode(&next)).map_err(|source| RegistryError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.state = next;
        Ok(())
    }
}

/// Topic ids are stored in their hyphenated text form.
mod uuid_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use uuid::Uuid;

    pub(super) fn serialize<S: Serializer>(id: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.hyphenated().to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        let text = String::deserialize(d)?;
        Uuid::parse_str(&text).map_err(D::Error::custom)
    }
}

fn encode(state: &RegistryFile) -> String {
    // Serializing plain strings, numbers and uuids cannot fail.
    let body = toml::to_string(state).unwrap_or_default();
    format!("crc32 = {}\n{body}", crc32fast::hash(body.as_bytes()))
}

fn decode(text: &str) -> Result<RegistryFile, String> {
    let (first, body) = text.split_once('\n').ok_or("missing checksum line")?;
    let expected: u32 = first
        .strip_prefix("crc32 = ")
        .and_then(|v| v.trim().parse().ok())
        .ok_or("malformed checksum line")?;
    let actual = crc32fast::hash(body.as_bytes());
    if actual != expected {
        return Err(format!("checksum {actual} != recorded {expected}"));
    }
    let state: RegistryFile = toml::from_str(body).map_err(|e| e.to_string())?;
    for topic in &state.topics {
        check_partition_count(topic)?;
    }
    Ok(state)
}

/// Refuses a stored partition count that no request could have created:
/// loading opens a log per partition, so the count bounds a loop and the
/// files it creates. Internal topics take their count from configuration
/// (`offsets.topic.num.partitions`), which has no upper bound in Kafka.
fn check_partition_count(topic: &TopicMeta) -> Result<(), String> {
    let most = if topic.internal {
        i32::MAX
    } else {
        crate::topic_admin::MAX_PARTITIONS_PER_TOPIC
    };
    if (1..=most).contains(&topic.partitions) {
        Ok(())
    } else {
        Err(format!(
            "topic {} has {} partitions (allowed: 1 to {most})",
            topic.name, topic.partitions
        ))
    }
}

/// Writes `contents` to `path` so that a crash leaves either the old or the
/// new file: temp file, fsync, rename, fsync of the directory.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> TopicMeta {
        TopicMeta {
            name: name.to_owned(),
            topic_id: Uuid::new_v4(),
            partitions: 3,
            configs: BTreeMap::from([("retention.ms".to_owned(), "1000".to_owned())]),
            internal: false,
        }
    }

    #[test]
    fn topics_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = TopicRegistry::load(dir.path()).unwrap();
        let orders = topic("orders");
        registry.insert(orders.clone()).unwrap();
        let reloaded = TopicRegistry::load(dir.path()).unwrap();
        assert_eq!(reloaded.get("orders"), Some(&orders));
    }

    #[test]
    fn producer_ids_are_not_reused_after_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = TopicRegistry::load(dir.path()).unwrap();
        let first = registry.allocate_producer_id().unwrap();
        let mut reloaded = TopicRegistry::load(dir.path()).unwrap();
        assert!(reloaded.allocate_producer_id().unwrap() > first);
    }

    #[test]
    fn corrupted_file_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = TopicRegistry::load(dir.path()).unwrap();
        registry.insert(topic("orders")).unwrap();
        let path = dir.path().join(TOPICS_FILE);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("orders", "ordert");
        std::fs::write(&path, text).unwrap();
        assert!(matches!(
            TopicRegistry::load(dir.path()),
            Err(RegistryError::Corrupt { .. })
        ));
    }

    #[test]
    fn stored_partition_count_no_request_could_create_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let huge = TopicMeta {
            partitions: i32::MAX,
            ..topic("orders")
        };
        let state = RegistryFile {
            next_producer_id: 0,
            topics: vec![huge],
        };
        std::fs::write(dir.path().join(TOPICS_FILE), encode(&state)).unwrap();
        assert!(matches!(
            TopicRegistry::load(dir.path()),
            Err(RegistryError::Corrupt { .. })
        ));
    }

    #[test]
    fn removed_topic_is_gone_after_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = TopicRegistry::load(dir.path()).unwrap();
        registry.insert(topic("orders")).unwrap();
        assert!(registry.remove("orders").unwrap().is_some());
        assert!(
            TopicRegistry::load(dir.path())
                .unwrap()
                .get("orders")
                .is_none()
        );
    }

    #[test]
    fn kafka_topic_name_rules_are_enforced() {
        for good in ["orders", "a.b_c-D9", &"x".repeat(249)] {
            assert_eq!(validate_topic_name(good), Ok(()), "{good}");
        }
        for bad in ["", ".", "..", "has space", "slash/", "ü", &"x".repeat(250)] {
            assert_eq!(
                validate_topic_name(bad),
                Err(ErrorCode::InvalidTopicException),
                "{bad}"
            );
        }
    }
}
