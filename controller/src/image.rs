//! The metadata image: the cluster as the committed records describe it.
//!
//! [`MetadataImage::apply`] is pure: it checks a record against the image and
//! either folds it in or returns an [`ApplyError`] and leaves the image as it
//! was. Replaying the same records always gives the same image.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApplyError;
use crate::records::{
    BrokerEndpoint, BrokerEpochRef, BrokerId, ConfigRecord, ConfigResource, MetadataRecord,
    NO_LEADER, PartitionChangeRecord, PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord,
    TopicRecord,
};

/// A broker's current registration and its standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    /// The broker's id.
    pub broker_id: BrokerId,
    /// The process start this registration came from.
    pub incarnation_id: Uuid,
    /// The registration's epoch.
    pub broker_epoch: i64,
    /// The listeners clients use.
    pub endpoints: Vec<BrokerEndpoint>,
    /// The broker's rack, if set.
    pub rack: Option<String>,
    /// Fenced brokers lead nothing and join no ISR.
    pub fenced: bool,
    /// The broker asked to shut down; leaderships are moving off it.
    pub in_controlled_shutdown: bool,
}

impl BrokerRegistration {
    /// Whether the broker may lead partitions and join ISRs.
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }
}

/// One partition's replicas, ISR, leader and epochs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The assigned replicas, the preferred leader first.
    pub replicas: Vec<BrokerId>,
    /// The in-sync replicas.
    pub isr: Vec<BrokerId>,
    /// The leader, or [`NO_LEADER`].
    pub leader: BrokerId,
    /// Bumped whenever the leader changes.
    pub leader_epoch: i32,
    /// Bumped on every change.
    pub partition_epoch: i32,
}

/// One topic: its name, configs and partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    /// The topic's id.
    pub topic_id: Uuid,
    /// The topic's name.
    pub name: String,
    /// The topic's configs (name to value).
    pub configs: BTreeMap<String, String>,
    /// Partitions by index, dense from 0.
    pub partitions: BTreeMap<i32, PartitionState>,
}

/// The cluster metadata: brokers, topics, partitions, configs, producer ids.
///
/// Serializable so a Raft snapshot can hold it whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    brokers: BTreeMap<BrokerId, BrokerRegistration>,
    topics: BTreeMap<Uuid, TopicImage>,
    topic_ids_by_name: BTreeMap<String, Uuid>,
    configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    last_broker_epoch: i64,
    next_producer_id: i64,
}

impl MetadataImage {
    /// An empty cluster.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one committed record into the image.
    ///
    /// # Errors
    ///
    /// [`ApplyError`] when the record does not fit the image (an unknown
    /// topic, broker or partition, a leader outside the ISR, an epoch that
    /// does not follow the current one, ...); the image is then unchanged.
    pub fn apply(&mut self, record: &MetadataRecord) -> Result<(), ApplyError> {
        match record {
            MetadataRecord::RegisterBroker(r) => self.register_broker(r),
            MetadataRecord::UnregisterBroker(b) => {
                self.registration(*b)?;
                self.brokers.remove(&b.broker_id);
                Ok(())
            }
            MetadataRecord::FenceBroker(b) => {
                let broker = self.registration_mut(*b)?;
                broker.fenced = true;
                Ok(())
            }
            MetadataRecord::UnfenceBroker(b) => {
                let broker = self.registration_mut(*b)?;
                broker.fenced = false;
                Ok(())
            }
            MetadataRecord::BrokerControlledShutdown(b) => {
                let broker = self.registration_mut(*b)?;
                broker.in_controlled_shutdown = true;
                Ok(())
            }
            MetadataRecord::Topic(t) => self.create_topic(t),
            MetadataRecord::Partition(p) => self.create_partition(p),
            MetadataRecord::PartitionChange(c) => self.change_partition(c),
            MetadataRecord::Config(c) => self.change_config(c),
            MetadataRecord::RemoveTopic { topic_id } => self.remove_topic(*topic_id),
            MetadataRecord::ProducerIds(p) => self.hand_out_producer_ids(p),
        }
    }

    fn register_broker(&mut self, r: &RegisterBrokerRecord) -> Result<(), ApplyError> {
        if r.broker_id < 0 {
            return Err(ApplyError::InvalidBrokerId(r.broker_id));
        }
        if r.broker_epoch <= self.last_broker_epoch {
            return Err(ApplyError::BrokerEpochNotIncreasing {
                broker_epoch: r.broker_epoch,
                last: self.last_broker_epoch,
            });
        }
        self.last_broker_epoch = r.broker_epoch;
        self.brokers.insert(
            r.broker_id,
            BrokerRegistration {
                broker_id: r.broker_id,
                incarnation_id: r.incarnation_id,
                broker_epoch: r.broker_epoch,
                endpoints: r.endpoints.clone(),
                rack: r.rack.clone(),
                fenced: true,
                in_controlled_shutdown: false,
            },
        );
        Ok(())
    }

    fn registration(&self, b: BrokerEpochRef) -> Result<&BrokerRegistration, ApplyError> {
        match self.brokers.get(&b.broker_id) {
            Some(r) if r.broker_epoch == b.broker_epoch => Ok(r),
            Some(r) => Err(ApplyError::StaleBrokerEpoch {
                broker_id: b.broker_id,
                broker_epoch: b.broker_epoch,
                current: r.broker_epoch,
            }),
            None => Err(ApplyError::UnknownBroker(b.broker_id)),
        }
    }

    fn registration_mut(
        &mut self,
        b: BrokerEpochRef,
    ) -> Result<&mut BrokerRegistration, ApplyError> {
        self.registration(b)?;
        self.brokers
            .get_mut(&b.broker_id)
            .ok_or(ApplyError::UnknownBroker(b.broker_id))
    }

    fn create_topic(&mut self, t: &TopicRecord) -> Result<(), ApplyError> {
        if self.topics.contains_key(&t.topic_id) {
            return Err(ApplyError::DuplicateTopicId(t.topic_id));
        }
        if self.topic_ids_by_name.contains_key(&t.name) {
            return Err(ApplyError::DuplicateTopicName(t.name.clone()));
        }
        self.topic_ids_by_name.insert(t.name.clone(), t.topic_id);
        self.topics.insert(
            t.topic_id,
            TopicImage {
                topic_id: t.topic_id,
                name: t.name.clone(),
                configs: t.configs.clone(),
                partitions: BTreeMap::new(),
            },
        );
        Ok(())
    }

    fn create_partition(&mut self, p: &PartitionRecord) -> Result<(), ApplyError> {
        let topic = self
            .topics
            .get_mut(&p.topic_id)
            .ok_or(ApplyError::UnknownTopic(p.topic_id))?;
        let next = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        if p.partition != next {
            return Err(ApplyError::PartitionNotNext {
                partition: p.partition,
                next,
            });
        }
        if p.leader_epoch < 0 || p.partition_epoch < 0 {
            return Err(ApplyError::NegativeEpoch);
        }
        check_replica_set(&p.replicas, &p.isr, p.leader)?;
        topic.partitions.insert(
            p.partition,
            PartitionState {
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
            },
        );
        Ok(())
    }

    fn change_partition(&mut self, c: &PartitionChangeRecord) -> Result<(), ApplyError> {
        let state = self
            .topics
            .get_mut(&c.topic_id)
            .ok_or(ApplyError::UnknownTopic(c.topic_id))?
            .partitions
            .get_mut(&c.partition)
            .ok_or(ApplyError::UnknownPartition {
                topic_id: c.topic_id,
                partition: c.partition,
            })?;
        let expected_partition_epoch = state.partition_epoch.saturating_add(1);
        let expected_leader_epoch = if c.leader == state.leader {
            state.leader_epoch
        } else {
            state.leader_epoch.saturating_add(1)
        };
        if c.partition_epoch != expected_partition_epoch || c.leader_epoch != expected_leader_epoch
        {
            return Err(ApplyError::EpochMismatch {
                leader_epoch: c.leader_epoch,
                expected_leader_epoch,
                partition_epoch: c.partition_epoch,
                expected_partition_epoch,
            });
        }
        check_replica_set(&state.replicas, &c.isr, c.leader)?;
        state.isr = c.isr.clone();
        state.leader = c.leader;
        state.leader_epoch = c.leader_epoch;
        state.partition_epoch = c.partition_epoch;
        Ok(())
    }

    fn change_config(&mut self, c: &ConfigRecord) -> Result<(), ApplyError> {
        let configs = match &c.resource {
            ConfigResource::Topic(name) => {
                let topic_id = self
                    .topic_ids_by_name
                    .get(name)
                    .ok_or_else(|| ApplyError::UnknownTopicName(name.clone()))?;
                &mut self
                    .topics
                    .get_mut(topic_id)
                    .ok_or_else(|| ApplyError::UnknownTopicName(name.clone()))?
                    .configs
            }
            other => self.configs.entry(other.clone()).or_default(),
        };
        match &c.value {
            Some(value) => configs.insert(c.name.clone(), value.clone()),
            None => configs.remove(&c.name),
        };
        Ok(())
    }

    fn remove_topic(&mut self, topic_id: Uuid) -> Result<(), ApplyError> {
        let topic = self
            .topics
            .remove(&topic_id)
            .ok_or(ApplyError::UnknownTopic(topic_id))?;
        self.topic_ids_by_name.remove(&topic.name);
        Ok(())
    }

    fn hand_out_producer_ids(&mut self, p: &ProducerIdsRecord) -> Result<(), ApplyError> {
        self.registration(p.broker)?;
        let end = p.first_producer_id.checked_add(p.block_size);
        match end {
            Some(end) if p.first_producer_id == self.next_producer_id && p.block_size > 0 => {
                self.next_producer_id = end;
                Ok(())
            }
            _ => Err(ApplyError::ProducerIdBlockNotNext {
                first_producer_id: p.first_producer_id,
                block_size: p.block_size,
                next: self.next_producer_id,
            }),
        }
    }
}

/// Replicas distinct and non-empty, the ISR a distinct subset of them, the
/// leader a member of the ISR or [`NO_LEADER`].
fn check_replica_set(
    replicas: &[BrokerId],
    isr: &[BrokerId],
    leader: BrokerId,
) -> Result<(), ApplyError> {
    let replica_set: BTreeSet<_> = replicas.iter().copied().collect();
    if replicas.is_empty() || replica_set.len() != replicas.len() {
        return Err(ApplyError::InvalidReplicas(replicas.to_vec()));
    }
    let isr_set: BTreeSet<_> = isr.iter().copied().collect();
    if isr.is_empty() || isr_set.len() != isr.len() || !isr_set.is_subset(&replica_set) {
        return Err(ApplyError::InvalidIsr(isr.to_vec()));
    }
    if leader != NO_LEADER && !isr_set.contains(&leader) {
        return Err(ApplyError::LeaderNotInIsr(leader));
    }
    Ok(())
}

/// Read-only questions the broker and the controller ask.
impl MetadataImage {
    /// Every registered broker, by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values()
    }

    /// One broker's registration.
    pub fn broker(&self, broker_id: BrokerId) -> Option<&BrokerRegistration> {
        self.brokers.get(&broker_id)
    }

    /// Brokers that may lead and join ISRs: unfenced, not shutting down.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| b.is_active())
    }

    /// Whether `broker_id` is registered, unfenced and not shutting down.
    pub fn is_live(&self, broker_id: BrokerId) -> bool {
        self.brokers.get(&broker_id).is_some_and(|b| b.is_active())
    }

    /// The greatest broker epoch handed out so far.
    pub fn last_broker_epoch(&self) -> i64 {
        self.last_broker_epoch
    }

    /// Every topic, by id.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    /// A topic by name.
    pub fn topic_by_name(&self, name: &str) -> Option<&TopicImage> {
        self.topic_ids_by_name
            .get(name)
            .and_then(|id| self.topics.get(id))
    }

    /// A topic by id.
    pub fn topic_by_id(&self, topic_id: Uuid) -> Option<&TopicImage> {
        self.topics.get(&topic_id)
    }

    /// The partitions of a topic (empty for an unknown topic).
    pub fn partitions(&self, topic_id: Uuid) -> impl Iterator<Item = (i32, &PartitionState)> {
        self.topics
            .get(&topic_id)
            .into_iter()
            .flat_map(|t| t.partitions.iter().map(|(p, s)| (*p, s)))
    }

    /// One partition's state.
    pub fn partition(&self, topic_id: Uuid, partition: i32) -> Option<&PartitionState> {
        self.topics.get(&topic_id)?.partitions.get(&partition)
    }

    /// A partition's leader (`None` for an unknown partition; `Some(-1)` when
    /// it has no leader).
    pub fn leader(&self, topic_id: Uuid, partition: i32) -> Option<BrokerId> {
        self.partition(topic_id, partition).map(|p| p.leader)
    }

    /// Every partition of every topic, as (topic id, partition, state).
    pub fn all_partitions(&self) -> impl Iterator<Item = (Uuid, i32, &PartitionState)> {
        self.topics
            .values()
            .flat_map(|t| t.partitions.iter().map(|(p, s)| (t.topic_id, *p, s)))
    }

    /// The partitions `broker_id` leads.
    pub fn partitions_led_by(&self, broker_id: BrokerId) -> Vec<(Uuid, i32)> {
        self.all_partitions()
            .filter(|(_, _, s)| s.leader == broker_id)
            .map(|(t, p, _)| (t, p))
            .collect()
    }

    /// The partitions `broker_id` is a replica of but does not lead.
    pub fn partitions_followed_by(&self, broker_id: BrokerId) -> Vec<(Uuid, i32)> {
        self.all_partitions()
            .filter(|(_, _, s)| s.leader != broker_id && s.replicas.contains(&broker_id))
            .map(|(t, p, _)| (t, p))
            .collect()
    }

    /// The dynamic configs of a broker or of the cluster (topic configs live
    /// on [`TopicImage::configs`]).
    pub fn configs(&self, resource: &ConfigResource) -> Option<&BTreeMap<String, String>> {
        match resource {
            ConfigResource::Topic(name) => self.topic_by_name(name).map(|t| &t.configs),
            other => self.configs.get(other),
        }
    }

    /// The first producer id of the next block to hand out.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }
}
