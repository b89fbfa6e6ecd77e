//! The metadata cache: brokers, topics (with ids) and partitions (leader,
//! leader epoch, replicas, ISR), and the routing decisions made from it.
//! Sans-IO: it takes parsed Metadata responses and the current instant.

use std::collections::BTreeMap;

use foldhash::HashMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::MetadataResponse;
use sluice_protocol::ErrorCode;
use uuid::Uuid;

use crate::error::{ClientError, Result};

/// A broker as metadata advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    /// The broker's node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, when configured.
    pub rack: Option<String>,
}

impl BrokerMetadata {
    /// `host:port` to dial.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub partition: i32,
    /// Leader broker id, `None` while no leader is elected.
    pub leader_id: Option<i32>,
    /// The leader epoch (fences stale leaders; `-1` when unknown).
    pub leader_epoch: i32,
    /// All replica broker ids, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
    /// Replicas whose log directory is offline.
    pub offline_replicas: Vec<i32>,
    /// The partition's error in the response (`None` when healthy).
    pub error: ErrorCode,
}

/// One topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic id (nil before Metadata v10 or when the broker has none).
    pub topic_id: Uuid,
    /// Whether this is an internal topic such as `__consumer_offsets`.
    pub is_internal: bool,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionMetadata>,
    /// The topic's error in the response (`None` when healthy).
    pub error: ErrorCode,
}

impl TopicMetadata {
    /// The partition with `index`, if present.
    pub fn partition(&self, index: i32) -> Option<&PartitionMetadata> {
        self.partitions
            .binary_search_by_key(&index, |p| p.partition)
            .ok()
            .map(|i| &self.partitions[i])
    }
}

/// Everything one Metadata response says, as plain values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// The cluster id, when the broker reports one.
    pub cluster_id: Option<String>,
    /// The controller's broker id, when known.
    pub controller_id: Option<i32>,
    /// Live brokers.
    pub brokers: Vec<BrokerMetadata>,
    /// Topics asked for (or all topics).
    pub topics: Vec<TopicMetadata>,
}

fn known_id(id: i32) -> Option<i32> {
    (id >= 0).then_some(id)
}

impl From<&MetadataResponse> for ClusterMetadata {
    fn from(response: &MetadataResponse) -> Self {
        let brokers = response
            .brokers
            .iter()
            .map(|b| BrokerMetadata {
                id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(ToString::to_string),
            })
            .collect();
        let topics = response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.to_string();
                let mut partitions: Vec<PartitionMetadata> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMetadata {
                        partition: p.partition_index,
                        leader_id: known_id(p.leader_id.0),
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.iter().map(|id| id.0).collect(),
                        isr: p.isr_nodes.iter().map(|id| id.0).collect(),
                        offline_replicas: p.offline_replicas.iter().map(|id| id.0).collect(),
                        error: ErrorCode::from_code(p.error_code),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some(TopicMetadata {
                    name,
                    topic_id: t.topic_id,
                    is_internal: t.is_internal,
                    partitions,
                    error: ErrorCode::from_code(t.error_code),
                })
            })
            .collect();
        ClusterMetadata {
            cluster_id: response.cluster_id.as_ref().map(ToString::to_string),
            controller_id: known_id(response.controller_id.0),
            brokers,
            topics,
        }
    }
}

/// Which topics a Metadata request asked for; decides what an answer replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataScope {
    /// Every topic: topics missing from the answer are dropped.
    AllTopics,
    /// Only the named topics: other cached topics are kept.
    Topics,
}

/// The client's view of the cluster, refreshed from Metadata responses.
#[derive(Debug, Clone, Default)]
pub struct MetadataCache {
    cluster_id: Option<String>,
    controller_id: Option<i32>,
    brokers: BTreeMap<i32, BrokerMetadata>,
    topics: HashMap<String, TopicMetadata>,
    refreshed_at: Option<Instant>,
    invalidated: bool,
}

impl MetadataCache {
    /// An empty cache that needs a refresh.
    pub fn new() -> Self {
        MetadataCache::default()
    }

    /// Applies a Metadata answer received at `now`. Brokers are replaced (each
    /// answer lists them all); topics the broker does not know are forgotten.
    pub fn apply(&mut self, update: ClusterMetadata, scope: MetadataScope, now: Instant) {
        self.cluster_id = update.cluster_id.or(self.cluster_id.take());
        self.controller_id = update.controller_id;
        self.brokers = update.brokers.into_iter().map(|b| (b.id, b)).collect();
        if scope == MetadataScope::AllTopics {
            self.topics.clear();
        }
        for topic in update.topics {
            if topic.error == ErrorCode::UnknownTopicOrPartition {
                self.topics.remove(&topic.name);
            } else {
                self.topics.insert(topic.name.clone(), topic);
            }
        }
        self.refreshed_at = Some(now);
        self.invalidated = false;
    }

    /// Marks the cache as needing a refresh (after a leadership error or disconnect).
    pub fn invalidate(&mut self) {
        self.invalidated = true;
    }

    /// Whether the cache must be refreshed before use: never filled,
    /// invalidated, or older than `max_age`.
    pub fn needs_refresh(&self, now: Instant, max_age: Duration) -> bool {
        match self.refreshed_at {
            None => true,
            Some(at) => self.invalidated || now.saturating_duration_since(at) >= max_age,
        }
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// The controller's broker id.
    pub fn controller_id(&self) -> Option<i32> {
        self.controller_id
    }

    /// A broker by id.
    pub fn broker(&self, id: i32) -> Option<&BrokerMetadata> {
        self.brokers.get(&id)
    }

    /// All known brokers, by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerMetadata> {
        self.brokers.values()
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    /// All cached topics.
    pub fn topics(&self) -> impl Iterator<Item = &TopicMetadata> {
        self.topics.values()
    }

    /// The leader of `topic`-`partition` and its address.
    ///
    /// # Errors
    /// [`ClientError::UnknownPartition`] when the topic or partition is not
    /// cached; a [`ClientError::Broker`] with the topic's or partition's error
    /// (`LEADER_NOT_AVAILABLE` when no leader is elected);
    /// [`ClientError::UnknownBroker`] when the leader has no address. All of
    /// these call for a metadata refresh.
    pub fn leader_for(&self, topic: &str, partition: i32) -> Result<&BrokerMetadata> {
        let unknown = || ClientError::UnknownPartition {
            topic: topic.to_owned(),
            partition,
        };
        let topic_metadata = self.topics.get(topic).ok_or_else(unknown)?;
        if topic_metadata.error != ErrorCode::None {
            return Err(ClientError::broker(
                topic_metadata.error,
                Some(topic.to_owned()),
            ));
        }
        let partition_metadata = topic_metadata.partition(partition).ok_or_else(unknown)?;
        let leader_id = partition_metadata.leader_id.ok_or_else(|| {
            ClientError::broker(
                ErrorCode::LeaderNotAvailable,
                Some(format!("{topic}-{partition}")),
            )
        })?;
        self.brokers
            .get(&leader_id)
            .ok_or(ClientError::UnknownBroker(leader_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(id: i32) -> BrokerMetadata {
        BrokerMetadata {
            id,
            host: "127.0.0.1".into(),
            port: 9000 + id,
            rack: None,
        }
    }

    fn topic(name: &str, leaders: &[Option<i32>]) -> TopicMetadata {
        let partitions = leaders
            .iter()
            .zip(0..)
            .map(|(leader_id, partition)| PartitionMetadata {
                partition,
                leader_id: *leader_id,
                leader_epoch: 0,
                replicas: leader_id.iter().copied().collect(),
                isr: leader_id.iter().copied().collect(),
                offline_replicas: vec![],
                error: ErrorCode::None,
            })
            .collect();
        TopicMetadata {
            name: name.into(),
            topic_id: Uuid::nil(),
            is_internal: false,
            partitions,
            error: ErrorCode::None,
        }
    }

    fn snapshot(brokers: &[i32], topics: Vec<TopicMetadata>) -> ClusterMetadata {
        ClusterMetadata {
            cluster_id: None,
            controller_id: Some(1),
            brokers: brokers.iter().map(|id| broker(*id)).collect(),
            topics,
        }
    }

    #[test]
    fn response_conversion_maps_missing_ids_to_none() {
        use kafka_protocol::messages::metadata_response::{
            MetadataResponsePartition, MetadataResponseTopic,
        };
        use kafka_protocol::messages::{BrokerId, TopicName};
        use kafka_protocol::protocol::StrBytes;
        let partition = MetadataResponsePartition::default()
            .with_partition_index(0)
            .with_leader_id(BrokerId(-1))
            .with_leader_epoch(4);
        let topic = MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
            .with_partitions(vec![partition]);
        let response = MetadataResponse::default()
            .with_controller_id(BrokerId(-1))
            .with_topics(vec![topic]);
        let metadata = ClusterMetadata::from(&response);
        assert_eq!(metadata.controller_id, None);
        let partition = &metadata.topics[0].partitions[0];
        assert_eq!((partition.leader_id, partition.leader_epoch), (None, 4));
    }

    #[test]
    fn leader_lookup_returns_the_leaders_address() {
        let mut cache = MetadataCache::new();
        cache.apply(
            snapshot(&[1, 2], vec![topic("t", &[Some(1), Some(2)])]),
            MetadataScope::Topics,
            Instant::now(),
        );
        assert_eq!(
            cache.leader_for("t", 1).map(BrokerMetadata::address).ok(),
            Some("127.0.0.1:9002".to_owned())
        );
    }

    #[test]
    fn unknown_topic_and_partition_are_reported_as_such() {
        let mut cache = MetadataCache::new();
        cache.apply(
            snapshot(&[1], vec![topic("t", &[Some(1)])]),
            MetadataScope::Topics,
            Instant::now(),
        );
        assert!(matches!(
            cache.leader_for("other", 0),
            Err(ClientError::UnknownPartition { .. })
        ));
        assert!(matches!(
            cache.leader_for("t", 5),
            Err(ClientError::UnknownPartition { .. })
        ));
    }

    #[test]
    fn partition_without_leader_is_leader_not_available() {
        let mut cache = MetadataCache::new();
        cache.apply(
            snapshot(&[1], vec![topic("t", &[None])]),
            MetadataScope::Topics,
            Instant::now(),
        );
        let code = cache.leader_for("t", 0).err().and_then(|e| e.code());
        assert_eq!(code, Some(ErrorCode::LeaderNotAvailable));
    }

    #[test]
    fn leader_without_broker_entry_is_unknown_broker() {
        let mut cache = MetadataCache::new();
        cache.apply(
            snapshot(&[1], vec![topic("t", &[Some(3)])]),
            MetadataScope::Topics,
            Instant::now(),
        );
        assert!(matches!(
            cache.leader_for("t", 0),
            Err(ClientError::UnknownBroker(3))
        ));
    }

    #[test]
    fn partial_refresh_keeps_other_topics_and_full_refresh_drops_them() {
        let mut cache = MetadataCache::new();
        let now = Instant::now();
        cache.apply(
            snapshot(&[1], vec![topic("a", &[Some(1)])]),
            MetadataScope::Topics,
            now,
        );
        cache.apply(
            snapshot(&[1], vec![topic("b", &[Some(1)])]),
            MetadataScope::Topics,
            now,
        );
        assert!(cache.topic("a").is_some() && cache.topic("b").is_some());
        cache.apply(
            snapshot(&[1], vec![topic("b", &[Some(1)])]),
            MetadataScope::AllTopics,
            now,
        );
        assert!(cache.topic("a").is_none() && cache.topic("b").is_some());
    }

    #[test]
    fn leader_change_is_visible_after_refresh() {
        let mut cache = MetadataCache::new();
        let now = Instant::now();
        cache.apply(
            snapshot(&[1, 2], vec![topic("t", &[Some(1)])]),
            MetadataScope::Topics,
            now,
        );
        cache.apply(
            snapshot(&[1, 2], vec![topic("t", &[Some(2)])]),
            MetadataScope::Topics,
            now,
        );
        assert_eq!(cache.leader_for("t", 0).map(|b| b.id).ok(), Some(2));
    }

    #[test]
    fn topic_reported_unknown_is_forgotten() {
        let mut cache = MetadataCache::new();
        let now = Instant::now();
        cache.apply(
            snapshot(&[1], vec![topic("t", &[Some(1)])]),
            MetadataScope::Topics,
            now,
        );
        let mut gone = topic("t", &[]);
        gone.error = ErrorCode::UnknownTopicOrPartition;
        cache.apply(snapshot(&[1], vec![gone]), MetadataScope::Topics, now);
        assert!(cache.topic("t").is_none());
    }

    #[test]
    fn refresh_is_needed_when_empty_invalidated_or_old() {
        let mut cache = MetadataCache::new();
        let start = Instant::now();
        let max_age = Duration::from_secs(300);
        assert!(cache.needs_refresh(start, max_age));
        cache.apply(snapshot(&[1], vec![]), MetadataScope::AllTopics, start);
        assert!(!cache.needs_refresh(start, max_age));
        assert!(cache.needs_refresh(start + max_age, max_age));
        cache.invalidate();
        assert!(cache.needs_refresh(start, max_age));
    }
}
