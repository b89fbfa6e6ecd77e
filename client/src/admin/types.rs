//! The admin API's inputs and results: plain structs, no wire types.

use std::collections::BTreeMap;

use sluice_protocol::ErrorCode;
use uuid::Uuid;

use crate::error::ClientError;

/// A per-resource error a broker reported (one topic, group or config
/// resource failed while others in the same request may have succeeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceError {
    /// The Kafka error code.
    pub code: ErrorCode,
    /// The broker's message, when it sent one.
    pub message: Option<String>,
}

impl ResourceError {
    /// `None` for `ErrorCode::None`, the error otherwise.
    /// A message that only names the code again (`UnknownTopicOrPartition`)
    /// is dropped, so the error states its cause once.
    pub fn from_parts(code: i16, message: Option<String>) -> Option<ResourceError> {
        let code = ErrorCode::from_code(code);
        let message = message.filter(|text| !names_the_code(text, code));
        (code != ErrorCode::None).then_some(ResourceError { code, message })
    }
}

/// Whether `text` is just the code's name, in either spelling.
fn names_the_code(text: &str, code: ErrorCode) -> bool {
    let text = text.trim();
    text.is_empty()
        || text == code.name()
        || text.replace('_', "").eq_ignore_ascii_case(code.name())
}

impl From<ResourceError> for ClientError {
    fn from(error: ResourceError) -> Self {
        ClientError::broker(error.code, error.message)
    }
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partition count; `-1` takes the broker's `num.partitions`.
    pub partitions: i32,
    /// Replication factor; `-1` takes the broker's `default.replication.factor`.
    pub replication_factor: i16,
    /// Topic configs (`retention.ms`, `cleanup.policy`, ...).
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and `replication_factor` replicas, no configs.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor,
            configs: BTreeMap::new(),
        }
    }

    /// Adds a topic config.
    #[must_use]
    pub fn with_config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(name.into(), value.into());
        self
    }
}

/// The outcome of creating one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// Topic name.
    pub name: String,
    /// Topic id assigned by the controller (nil before CreateTopics v7).
    pub topic_id: Uuid,
    /// Partition count (`-1` when the broker did not say).
    pub partitions: i32,
    /// Replication factor (`-1` when the broker did not say).
    pub replication_factor: i16,
    /// Why this topic was not created.
    pub error: Option<ResourceError>,
}

/// The outcome of an operation on one named resource (topic or group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceOutcome {
    /// Topic or group name.
    pub name: String,
    /// Why the operation failed for it.
    pub error: Option<ResourceError>,
}

/// Which offset ListOffsets should find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (next offset to be written).
    Latest,
    /// The offset of the record with the highest timestamp (ListOffsets v7+).
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this many ms since the epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    /// The special timestamp value ListOffsets uses for this spec.
    pub fn wire_timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(timestamp_ms) => timestamp_ms,
        }
    }
}

/// One partition's answer to ListOffsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedOffset {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The offset found; `-1` when no record matches a timestamp.
    pub offset: i64,
    /// The timestamp of that record (`-1` for earliest/latest).
    pub timestamp_ms: i64,
    /// The leader epoch of that record, `-1` when unknown.
    pub leader_epoch: i32,
    /// Why the lookup failed for this partition.
    pub error: Option<ResourceError>,
}

/// How a configuration entry got its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on this topic.
    Topic,
    /// Set dynamically for this broker.
    DynamicBroker,
    /// Set dynamically as the cluster-wide default.
    DynamicDefaultBroker,
    /// From the broker's static configuration file.
    StaticBroker,
    /// The built-in default.
    Default,
    /// Any other source code.
    Other(i8),
}

impl ConfigSource {
    /// Decodes the wire value of `config_source`.
    pub fn from_wire(source: i8) -> Self {
        match source {
            1 => ConfigSource::Topic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            other => ConfigSource::Other(other),
        }
    }
}

/// One configuration entry of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Config name.
    pub name: String,
    /// Value; `None` for sensitive or unset entries.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether the entry cannot be changed.
    pub read_only: bool,
    /// Whether the value is hidden because it is sensitive.
    pub is_sensitive: bool,
}

/// One change for IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Set `name` to `value`.
    Set {
        /// Config name.
        name: String,
        /// New value.
        value: String,
    },
    /// Remove the override so the default applies again.
    Delete {
        /// Config name.
        name: String,
    },
}

/// A consumer group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// Group id.
    pub group_id: String,
    /// `consumer` for consumer groups, empty for others.
    pub protocol_type: String,
    /// Group state (`Empty`, `Stable`, ...; empty before ListGroups v4).
    pub state: String,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Member id assigned by the coordinator.
    pub member_id: String,
    /// Static membership id, when used.
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the coordinator saw it.
    pub client_host: String,
}

/// A consumer group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// Group state (`Empty`, `Stable`, `PreparingRebalance`, `Dead`, ...).
    pub state: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// The chosen assignor (`range`, `roundrobin`, ...).
    pub protocol: String,
    /// Current members.
    pub members: Vec<GroupMember>,
    /// Why the group could not be described.
    pub error: Option<ResourceError>,
}

/// A group's committed offset on one partition and how far behind it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPartitionOffset {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The committed offset, `None` when the group has not committed.
    pub committed_offset: Option<i64>,
    /// The commit's metadata string.
    pub metadata: Option<String>,
    /// The partition's log end offset, when it could be listed.
    pub log_end_offset: Option<i64>,
    /// `log_end_offset - committed_offset`, when both are known.
    pub lag: Option<i64>,
}

/// Where `reset_group_offsets` moves a group, like
/// `kafka-consumer-groups --reset-offsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// `--to-earliest`.
    Earliest,
    /// `--to-latest`.
    Latest,
    /// `--to-offset N` (clamped into the partition's range).
    Offset(i64),
    /// `--to-datetime`: first offset at or after this timestamp (ms), the log
    /// end when no record is that new.
    Timestamp(i64),
    /// `--shift-by N` from the committed offset (clamped).
    ShiftBy(i64),
}

/// The offset a reset committed for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOffset {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The offset committed.
    pub offset: i64,
    /// Why the commit failed for this partition.
    pub error: Option<ResourceError>,
}
