//! The broker's shared state: configuration, identity, topics and partitions.
//!
//! One [`Broker`] is shared (in an `Arc`) by every connection task. Topic
//! metadata lives in the [`TopicRegistry`], partition logs in
//! [`Partition`]s; both sit behind short std locks that are never held across
//! an `.await`. Appends bump a watch channel that long-polling fetches wait on.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_protocol::ErrorCode;
use sluice_storage::{ConfigError, LogConfig, LogManager, TopicPartition};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::group_service::GroupService;
use crate::meta::{self, NodeIdentity};
use crate::partition::Partition;
use crate::topics::{TopicMeta, TopicRegistry};

/// The internal topic holding consumer group offsets.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka topic configs a single node accepts and reports but does not act on
/// (replication, compaction tuning, tiered storage), so Kafka tools that set
/// them keep working; each with Kafka 4.3's default, which DescribeConfigs
/// reports while the topic does not override it.
pub const RECORDED_TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("compression.type", "producer"),
    ("delete.retention.ms", "86400000"),
    ("file.delete.delay.ms", "60000"),
    ("local.retention.bytes", "-2"),
    ("local.retention.ms", "-2"),
    ("max.compaction.lag.ms", "9223372036854775807"),
    ("message.timestamp.after.max.ms", "3600000"),
    ("message.timestamp.before.max.ms", "9223372036854775807"),
    ("min.cleanable.dirty.ratio", "0.5"),
    ("min.compaction.lag.ms", "0"),
    ("min.insync.replicas", "1"),
    ("preallocate", "false"),
    ("unclean.leader.election.enable", "false"),
];

/// Whether `name` is one of [`RECORDED_TOPIC_CONFIGS`].
pub fn is_recorded_topic_config(name: &str) -> bool {
    RECORDED_TOPIC_CONFIGS
        .iter()
        .any(|(recorded, _)| *recorded == name)
}

/// State shared by all connections of one broker.
#[derive(Debug)]
pub struct Broker {
    config: BrokerConfig,
    identity: NodeIdentity,
    registry: Mutex<TopicRegistry>,
    storage: Mutex<Option<LogManager>>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Bumped by appends, one channel per shard of partitions.
    appended: Box<[watch::Sender<u64>]>,
    closing: watch::Sender<bool>,
    groups: GroupService,
}

/// Milliseconds since the Unix epoch, as Kafka timestamps count them.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Shards of the append notifications: an append wakes only the fetches
/// parked on a partition of its shard (Kafka keys its fetch purgatory by
/// partition), not every parked fetch, so idle consumers of other topics are
/// not woken by each produce.
const APPEND_SHARDS: usize = 64;

/// The append-notification shard of `topic`-`partition`.
pub fn append_shard(topic: &str, partition: i32) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    topic.hash(&mut hasher);
    partition.hash(&mut hasher);
    (hasher.finish() % APPEND_SHARDS as u64) as usize
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent before any call that
    // could panic, so a poisoned lock still guards valid data.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Broker {
    /// Opens the data directory: recovers logs, loads topics and identity,
    /// creates missing partitions and the internal offsets topic.
    ///
    /// # Errors
    /// [`BrokerError`] when the data directory cannot be used.
    pub fn open(config: BrokerConfig) -> Result<Arc<Self>, BrokerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| BrokerError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let (manager, recovered) = LogManager::open(&config.data_dir, config.log.clone())?;
        let identity = meta::load_or_create(&config.data_dir, config.node_id)?;
        let registry = TopicRegistry::load(&config.data_dir)?;
        let appended = (0..APPEND_SHARDS).map(|_| watch::channel(0).0).collect();
        let (closing, _) = watch::channel(false);
        let groups = GroupService::new(&config);
        let broker = Arc::new(Self {
            config,
            identity,
            registry: Mutex::new(registry),
            storage: Mutex::new(Some(manager)),
            partitions: RwLock::new(HashMap::new()),
            appended,
            closing,
            groups,
        });
        broker.adopt_recovered_logs(recovered)?;
        broker.create_missing_partitions()?;
        broker.ensure_internal_topics()?;
        broker.groups.load(&broker);
        info!(
            cluster_id = %broker.identity.cluster_id,
            node_id = broker.identity.node_id,
            topics = lock(&broker.registry).topics().count(),
            "broker state loaded"
        );
        Ok(broker)
    }

    fn adopt_recovered_logs(
        &self,
        recovered: Vec<(TopicPartition, sluice_storage::Log)>,
    ) -> Result<(), BrokerError> {
        for (tp, log) in recovered {
            let known = lock(&self.registry)
                .get(&tp.topic)
                .is_some_and(|t| tp.partition < t.partitions);
            if !known {
                warn!(topic = %tp.topic, partition = tp.partition, "deleting log of unknown topic");
                if let Some(manager) = lock(&self.storage).as_mut() {
                    manager.delete_log(&tp, log)?;
                }
                continue;
            }
            let (partition, max_producer_id) = Partition::open(tp.clone(), log)?;
            lock(&self.registry).observe_producer_id(max_producer_id)?;
            self.write_partitions().insert(tp, Arc::new(partition));
        }
        Ok(())
    }

    fn create_missing_partitions(&self) -> Result<(), BrokerError> {
        let topics: Vec<TopicMeta> = lock(&self.registry).topics().cloned().collect();
        for topic in topics {
            self.open_partitions(&topic, 0)
                .map_err(BrokerError::Startup)?;
        }
        Ok(())
    }

    fn ensure_internal_topics(&self) -> Result<(), BrokerError> {
        if self.topic(CONSUMER_OFFSETS_TOPIC).is_none() {
            let partitions = self.config.offsets_topic_num_partitions;
            let configs = BTreeMap::from([
                ("cleanup.policy".to_owned(), "compact".to_owned()),
                (
                    "segment.bytes".to_owned(),
                    self.config.offsets_topic_segment_bytes.to_string(),
                ),
            ]);
            self.create_topic(CONSUMER_OFFSETS_TOPIC, partitions, configs, true)
                .map_err(BrokerError::Startup)?;
        }
        Ok(())
    }

    /// The broker's configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The group coordinator.
    pub fn groups(&self) -> &GroupService {
        &self.groups
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.identity.node_id
    }

    /// The cluster id persisted in `cluster.properties`.
    pub fn cluster_id(&self) -> &str {
        &self.identity.cluster_id
    }

    /// A snapshot of the topic called `name`.
    pub fn topic(&self, name: &str) -> Option<TopicMeta> {
        lock(&self.registry).get(name).cloned()
    }

    /// A snapshot of the topic with id `topic_id`.
    pub fn topic_by_id(&self, topic_id: uuid::Uuid) -> Option<TopicMeta> {
        lock(&self.registry).get_by_id(topic_id).cloned()
    }

    /// A snapshot of every topic.
    pub fn topics(&self) -> Vec<TopicMeta> {
        lock(&self.registry).topics().cloned().collect()
    }

    /// The open partition `topic`/`partition`.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let tp = TopicPartition {
            topic: topic.to_owned(),
            partition,
        };
        self.read_partitions().get(&tp).cloned()
    }

    /// Every open partition (for background maintenance).
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.read_partitions().values().cloned().collect()
    }

    fn read_partitions(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_partitions(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The log config for a topic with `configs` overrides: the `[log]`
    /// defaults with `message.max.bytes` as the default `max.message.bytes`,
    /// then the overrides.
    ///
    /// # Errors
    /// INVALID_CONFIG when an override is unknown or its value is invalid.
    pub fn log_config_for(
        &self,
        configs: &BTreeMap<String, String>,
    ) -> Result<LogConfig, ErrorCode> {
        let mut log_config = self.config.log.clone();
        log_config.max_message_bytes = self.config.message_max_bytes as u64;
        for (name, value) in configs {
            match log_config.set(name, value) {
                Ok(()) => {}
                Err(ConfigError::Unknown { .. }) if is_recorded_topic_config(name) => {}
                Err(_) => return Err(ErrorCode::InvalidConfig),
            }
        }
        Ok(log_config)
    }

    /// Creates logs for partitions `first..topic.partitions` that are not open yet.
    pub(crate) fn open_partitions(&self, topic: &TopicMeta, first: i32) -> Result<(), ErrorCode> {
        let log_config = self.log_config_for(&topic.configs)?;
        for partition in first..topic.partitions {
            let tp = TopicPartition {
                topic: topic.name.clone(),
                partition,
            };
            if self.read_partitions().contains_key(&tp) {
                continue;
            }
            let log = {
                let mut storage = lock(&self.storage);
                let manager = storage.as_mut().ok_or(ErrorCode::BrokerNotAvailable)?;
                manager
                    .create_log(&tp, log_config.clone())
                    .map_err(|e| crate::partition::storage_error_code(&e))?
            };
            let (opened, _) = Partition::open(tp.clone(), log)
                .map_err(|e| crate::partition::storage_error_code(&e))?;
            self.write_partitions().insert(tp, Arc::new(opened));
        }
        Ok(())
    }

    /// Closes and deletes the logs of `topic`'s partitions from `first` on.
    pub(crate) fn drop_partitions(&self, topic: &TopicMeta, first: i32) -> Result<(), ErrorCode> {
        for partition in first..topic.partitions {
            let tp = TopicPartition {
                topic: topic.name.clone(),
                partition,
            };
            let Some(opened) = self.write_partitions().remove(&tp) else {
                continue;
            };
            if let Some(state) = opened.take() {
                let mut storage = lock(&self.storage);
                let manager = storage.as_mut().ok_or(ErrorCode::BrokerNotAvailable)?;
                manager
                    .delete_log(&tp, state.log)
                    .map_err(|e| crate::partition::storage_error_code(&e))?;
            }
        }
        Ok(())
    }

    /// Runs `f` on the registry (topic admin operations).
    pub(crate) fn with_registry<T>(&self, f: impl FnOnce(&mut TopicRegistry) -> T) -> T {
        f(&mut lock(&self.registry))
    }

    /// Hands out a producer id that was never handed out before.
    ///
    /// # Errors
    /// UNKNOWN_SERVER_ERROR when the counter cannot be persisted.
    pub fn allocate_producer_id(&self) -> Result<i64, ErrorCode> {
        lock(&self.registry).allocate_producer_id().map_err(|e| {
            warn!(error = %e, "cannot persist the producer id counter");
            ErrorCode::UnknownServerError
        })
    }

    /// Wakes the long-polling fetches waiting on `topic`-`partition`'s shard
    /// after an append to it.
    pub fn notify_appended(&self, topic: &str, partition: i32) {
        self.appended[append_shard(topic, partition)]
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// A receiver that changes whenever data is appended to a partition of
    /// `shard` (see [`append_shard`]).
    pub fn subscribe_appends(&self, shard: usize) -> watch::Receiver<u64> {
        self.appended[shard % APPEND_SHARDS].subscribe()
    }

    /// How many append receivers long-polling fetches hold right now (one
    /// per shard of the partitions each waits on).
    pub fn parked_fetches(&self) -> usize {
        self.appended
            .iter()
            .map(watch::Sender::receiver_count)
            .sum()
    }

    /// Tells long-polling requests to answer now: the broker is shutting down.
    pub fn begin_shutdown(&self) {
        self.closing.send_replace(true);
    }

    /// A receiver that turns true when shutdown begins.
    pub fn subscribe_closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Flushes and closes every log and writes the clean-shutdown marker.
    /// Requests that arrive afterwards find no partitions.
    ///
    /// # Errors
    /// [`BrokerError::Storage`] when a log cannot be flushed or closed.
    pub fn shutdown(&self) -> Result<(), BrokerError> {
        let partitions: Vec<_> = self.write_partitions().drain().collect();
        let logs = partitions
            .into_iter()
            .filter_map(|(tp, partition)| partition.take().map(|state| (tp, state.log)))
            .collect();
        if let Some(manager) = lock(&self.storage).take() {
            manager.shutdown(logs)?;
            info!("logs flushed and closed cleanly");
        }
        Ok(())
    }
}
