//! Topic decisions: CreateTopics, CreatePartitions, DeleteTopics.

use std::collections::{BTreeMap, BTreeSet};

use sluice_protocol::ErrorCode;
use uuid::Uuid;

use crate::image::MetadataImage;
use crate::messages::{
    CreatableTopic, CreatePartitionsRequest, CreatePartitionsTopic, CreateTopicsRequest,
    CreatedTopic, Decision, DeleteTopicsRequest, TopicOutcome,
};
use crate::pending::Pending;
use crate::placement::{PlacementBroker, place_replicas};
use crate::records::{BrokerId, MetadataRecord, NO_LEADER, PartitionRecord, TopicRecord};
use crate::state::ControllerState;

/// Kafka's limit on a topic name's length.
const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// A refusal: the Kafka error and the message that goes with it.
type Refusal = (ErrorCode, String);

impl ControllerState {
    /// CreateTopics. Each topic succeeds or fails alone; `new_topic_id` gives
    /// each created topic its id (injected so tests are deterministic).
    pub fn create_topics(
        &self,
        image: &MetadataImage,
        request: &CreateTopicsRequest,
        new_topic_id: &mut dyn FnMut() -> Uuid,
    ) -> Decision<Vec<CreatedTopic>> {
        let mut pending = Pending::new(image);
        let mut seen = BTreeSet::new();
        let mut duplicated = BTreeSet::new();
        for topic in &request.topics {
            if !seen.insert(topic.name.as_str()) {
                duplicated.insert(topic.name.as_str());
            }
        }
        let mut response = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let outcome = if duplicated.contains(topic.name.as_str()) {
                Err((
                    ErrorCode::InvalidRequest,
                    "topic named more than once in the request".into(),
                ))
            } else {
                self.create_topic(&mut pending, topic, request.validate_only, new_topic_id)
            };
            response.push(match outcome {
                Ok(created) => created,
                Err((error, message)) => CreatedTopic {
                    name: topic.name.clone(),
                    error,
                    message: Some(message),
                    topic_id: Uuid::nil(),
                    num_partitions: -1,
                    replication_factor: -1,
                },
            });
        }
        Decision {
            records: pending.into_records(),
            response,
        }
    }

    fn create_topic(
        &self,
        pending: &mut Pending<'_>,
        topic: &CreatableTopic,
        validate_only: bool,
        new_topic_id: &mut dyn FnMut() -> Uuid,
    ) -> Result<CreatedTopic, Refusal> {
        validate_topic_name(&topic.name)?;
        if pending.image().topic_by_name(&topic.name).is_some() {
            return Err((
                ErrorCode::TopicAlreadyExists,
                format!("topic {:?} already exists", topic.name),
            ));
        }
        let assignments = if topic.assignments.is_empty() {
            self.placed_assignments(pending.image(), topic)?
        } else {
            explicit_assignments(pending.image(), topic)?
        };
        let num_partitions = i32::try_from(assignments.len()).unwrap_or(i32::MAX);
        let replication_factor = assignments
            .first()
            .map_or(0, |r| i16::try_from(r.len()).unwrap_or(i16::MAX));
        let topic_id = if validate_only {
            Uuid::nil()
        } else {
            let topic_id = new_topic_id();
            pending.push(MetadataRecord::Topic(TopicRecord {
                topic_id,
                name: topic.name.clone(),
                configs: topic.configs.clone(),
            }));
            push_partitions(pending, topic_id, 0, assignments);
            topic_id
        };
        Ok(CreatedTopic {
            name: topic.name.clone(),
            error: ErrorCode::None,
            message: None,
            topic_id,
            num_partitions,
            replication_factor,
        })
    }

    fn placed_assignments(
        &self,
        image: &MetadataImage,
        topic: &CreatableTopic,
    ) -> Result<Vec<Vec<BrokerId>>, Refusal> {
        let num_partitions = match topic.num_partitions {
            -1 => self.config.num_partitions,
            n => n,
        };
        if num_partitions <= 0 || num_partitions > self.config.max_partitions_per_request {
            return Err((
                ErrorCode::InvalidPartitions,
                format!(
                    "partitions must be in 1..={}, got {num_partitions}",
                    self.config.max_partitions_per_request
                ),
            ));
        }
        let replication_factor = match topic.replication_factor {
            -1 => self.config.default_replication_factor,
            n => n,
        };
        if replication_factor <= 0 {
            return Err((
                ErrorCode::InvalidReplicationFactor,
                format!("replication factor must be above 0, got {replication_factor}"),
            ));
        }
        place(image, &[], num_partitions, replication_factor)
    }

    /// CreatePartitions: grows topics to a new partition count, placing the
    /// new partitions (evening out the topic) or using explicit lists.
    pub fn create_partitions(
        &self,
        image: &MetadataImage,
        request: &CreatePartitionsRequest,
    ) -> Decision<Vec<TopicOutcome>> {
        let mut pending = Pending::new(image);
        let response = request
            .topics
            .iter()
            .map(|topic| {
                let result = self.grow_topic(&mut pending, topic, request.validate_only);
                let topic_id = pending
                    .image()
                    .topic_by_name(&topic.name)
                    .map_or(Uuid::nil(), |t| t.topic_id);
                let (error, message) = match result {
                    Ok(()) => (ErrorCode::None, None),
                    Err((error, message)) => (error, Some(message)),
                };
                TopicOutcome {
                    name: topic.name.clone(),
                    topic_id,
                    error,
                    message,
                }
            })
            .collect();
        Decision {
            records: pending.into_records(),
            response,
        }
    }

    fn grow_topic(
        &self,
        pending: &mut Pending<'_>,
        request: &CreatePartitionsTopic,
        validate_only: bool,
    ) -> Result<(), Refusal> {
        let topic = pending
            .image()
            .topic_by_name(&request.name)
            .ok_or_else(|| {
                (
                    ErrorCode::UnknownTopicOrPartition,
                    format!("unknown topic {:?}", request.name),
                )
            })?;
        let topic_id = topic.topic_id;
        let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        let added = request.count.saturating_sub(current);
        if added <= 0 || added > self.config.max_partitions_per_request {
            return Err((
                ErrorCode::InvalidPartitions,
                format!(
                    "topic has {current} partitions; {} is not a valid new count",
                    request.count
                ),
            ));
        }
        let existing: Vec<Vec<BrokerId>> = topic
            .partitions
            .values()
            .map(|p| p.replicas.clone())
            .collect();
        let replication_factor = existing.first().map_or(1, Vec::len);
        let assignments = match &request.assignments {
            Some(lists) => {
                let lists: BTreeMap<i32, Vec<BrokerId>> = lists
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (current.saturating_add(i as i32), r.clone()))
                    .collect();
                if lists.len() != added as usize {
                    return Err((
                        ErrorCode::InvalidReplicaAssignment,
                        format!("{added} new partitions need {added} replica lists"),
                    ));
                }
                check_assignments(pending.image(), &lists, current, Some(replication_factor))?
            }
            None => {
                let replication_factor = i16::try_from(replication_factor).unwrap_or(i16::MAX);
                place(pending.image(), &existing, added, replication_factor)?
            }
        };
        if !validate_only {
            push_partitions(pending, topic_id, current, assignments);
        }
        Ok(())
    }

    /// DeleteTopics, by names and ids.
    pub fn delete_topics(
        &self,
        image: &MetadataImage,
        request: &DeleteTopicsRequest,
    ) -> Decision<Vec<TopicOutcome>> {
        let mut pending = Pending::new(image);
        let mut response = Vec::new();
        let by_name = request.names.iter().map(|name| {
            let id = image.topic_by_name(name).map(|t| t.topic_id);
            (name.clone(), id, ErrorCode::UnknownTopicOrPartition)
        });
        let by_id = request.topic_ids.iter().map(|id| {
            let name = image.topic_by_id(*id).map(|t| t.name.clone());
            (
                name.unwrap_or_default(),
                Some(*id),
                ErrorCode::UnknownTopicId,
            )
        });
        for (name, topic_id, unknown) in by_name.chain(by_id).collect::<Vec<_>>() {
            let live_id = topic_id.filter(|id| pending.image().topic_by_id(*id).is_some());
            let error = match live_id {
                Some(topic_id) => {
                    pending.push(MetadataRecord::RemoveTopic { topic_id });
                    tracing::info!(topic = %name, %topic_id, "topic deleted");
                    ErrorCode::None
                }
                None => unknown,
            };
            response.push(TopicOutcome {
                name,
                topic_id: topic_id.unwrap_or(Uuid::nil()),
                error,
                message: None,
            });
        }
        Decision {
            records: pending.into_records(),
            response,
        }
    }
}

/// Kafka's topic name rule: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn validate_topic_name(name: &str) -> Result<(), Refusal> {
    let legal = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > MAX_TOPIC_NAME_LENGTH
        || !legal
    {
        return Err((
            ErrorCode::InvalidTopicException,
            format!("illegal topic name {name:?}"),
        ));
    }
    Ok(())
}

/// Places `partitions` partitions over the live brokers.
fn place(
    image: &MetadataImage,
    existing: &[Vec<BrokerId>],
    partitions: i32,
    replication_factor: i16,
) -> Result<Vec<Vec<BrokerId>>, Refusal> {
    let mut cluster_replicas: BTreeMap<BrokerId, usize> = BTreeMap::new();
    for (_, _, state) in image.all_partitions() {
        for b in &state.replicas {
            *cluster_replicas.entry(*b).or_default() += 1;
        }
    }
    let brokers: Vec<PlacementBroker> = image
        .live_brokers()
        .map(|b| PlacementBroker {
            broker_id: b.broker_id,
            rack: b.rack.clone(),
            cluster_replicas: cluster_replicas.get(&b.broker_id).copied().unwrap_or(0),
        })
        .collect();
    let live = brokers.len();
    let partitions = usize::try_from(partitions).unwrap_or(0);
    let replication_factor = usize::try_from(replication_factor).unwrap_or(0);
    place_replicas(&brokers, existing, partitions, replication_factor).ok_or_else(|| {
        (
            ErrorCode::InvalidReplicationFactor,
            format!(
                "replication factor {replication_factor} is larger than the {live} live brokers"
            ),
        )
    })
}

/// Checks a CreateTopics request's explicit assignments.
fn explicit_assignments(
    image: &MetadataImage,
    topic: &CreatableTopic,
) -> Result<Vec<Vec<BrokerId>>, Refusal> {
    if topic.num_partitions != -1 || topic.replication_factor != -1 {
        return Err((
            ErrorCode::InvalidRequest,
            "with explicit assignments, partitions and replication factor must be -1".into(),
        ));
    }
    check_assignments(image, &topic.assignments, 0, None)
}

/// Explicit replica lists: partitions numbered densely from `first`, each
/// list non-empty, distinct, of one length (or `replication_factor`), of
/// registered brokers, with at least one live broker to lead.
fn check_assignments(
    image: &MetadataImage,
    lists: &BTreeMap<i32, Vec<BrokerId>>,
    first: i32,
    replication_factor: Option<usize>,
) -> Result<Vec<Vec<BrokerId>>, Refusal> {
    let bad = |message: String| (ErrorCode::InvalidReplicaAssignment, message);
    let length = replication_factor.or_else(|| lists.values().next().map(Vec::len));
    for (i, (partition, replicas)) in lists.iter().enumerate() {
        if i64::from(*partition) != i64::from(first) + i as i64 {
            return Err(bad(format!(
                "partitions must be numbered densely from {first}"
            )));
        }
        let distinct: BTreeSet<_> = replicas.iter().collect();
        if replicas.is_empty() || distinct.len() != replicas.len() || Some(replicas.len()) != length
        {
            return Err(bad(format!(
                "partition {partition}: replicas {replicas:?} must be distinct and of one length"
            )));
        }
        if let Some(unknown) = replicas.iter().find(|b| image.broker(**b).is_none()) {
            return Err(bad(format!(
                "partition {partition}: broker {unknown} is not registered"
            )));
        }
        if !replicas.iter().any(|b| image.is_live(*b)) {
            return Err(bad(format!(
                "partition {partition}: every broker assigned is fenced or shutting down"
            )));
        }
    }
    Ok(lists.values().cloned().collect())
}

/// Partition records for `assignments`, numbered from `first`; the ISR is
/// the live replicas, the leader the first of them.
fn push_partitions(
    pending: &mut Pending<'_>,
    topic_id: Uuid,
    first: i32,
    assignments: Vec<Vec<BrokerId>>,
) {
    for (i, replicas) in assignments.into_iter().enumerate() {
        let isr: Vec<BrokerId> = replicas
            .iter()
            .copied()
            .filter(|b| pending.image().is_live(*b))
            .collect();
        let leader = isr.first().copied().unwrap_or(NO_LEADER);
        pending.push(MetadataRecord::Partition(PartitionRecord {
            topic_id,
            partition: first.saturating_add(i as i32),
            replicas,
            isr,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
        }));
    }
}
