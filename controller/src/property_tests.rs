//! Property tests: random event sequences against the controller's
//! invariants, and the placer's balance.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use uuid::Uuid;

use crate::codec::{decode_batch, encode_batch};
use crate::image::MetadataImage;
use crate::messages::{
    AllocateProducerIdsRequest, AlterPartitionItem, AlterPartitionRequest, CreatePartitionsRequest,
    CreatePartitionsTopic, DeleteTopicsRequest,
};
use crate::placement::{PlacementBroker, place_replicas};
use crate::records::{MetadataRecord, NO_LEADER};
use crate::testing::Harness;

#[derive(Debug, Clone)]
enum Event {
    Register(i32),
    Heartbeat(i32),
    ShutDown(i32),
    Advance(u64),
    CreateTopic {
        partitions: i32,
        replication_factor: i16,
    },
    GrowTopic(usize),
    DeleteTopic(usize),
    ShrinkIsr {
        topic: usize,
        partition: i32,
        keep: usize,
    },
    ExpandIsr {
        topic: usize,
        partition: i32,
    },
    AllocateProducerIds(i32),
}

fn event() -> impl Strategy<Value = Event> {
    let broker = 1..=5i32;
    prop_oneof![
        2 => broker.clone().prop_map(Event::Register),
        6 => broker.clone().prop_map(Event::Heartbeat),
        1 => broker.clone().prop_map(Event::ShutDown),
        3 => (100..1500u64).prop_map(Event::Advance),
        2 => (1..6i32, 1..4i16).prop_map(|(partitions, replication_factor)| Event::CreateTopic {
            partitions,
            replication_factor
        }),
        1 => (0..4usize).prop_map(Event::GrowTopic),
        1 => (0..4usize).prop_map(Event::DeleteTopic),
        2 => (0..4usize, 0..6i32, 0..3usize).prop_map(|(topic, partition, keep)| {
            Event::ShrinkIsr { topic, partition, keep }
        }),
        2 => (0..4usize, 0..6i32).prop_map(|(topic, partition)| Event::ExpandIsr { topic, partition }),
        1 => broker.prop_map(Event::AllocateProducerIds),
    ]
}

/// Drives one event; the harness commits what it decides.
fn drive(h: &mut Harness, event: &Event) {
    let log_end_offset = h.log_end_offset;
    let topic_ids: Vec<Uuid> = h.image.topics().map(|t| t.topic_id).collect();
    let records = match event {
        Event::Register(id) => {
            h.register(*id, None);
            return;
        }
        Event::Heartbeat(id) => {
            h.heartbeat(*id, false);
            return;
        }
        Event::ShutDown(id) => {
            h.heartbeat(*id, true);
            return;
        }
        Event::Advance(ms) => {
            h.advance(*ms);
            return;
        }
        Event::CreateTopic {
            partitions,
            replication_factor,
        } => {
            let name = format!("t{log_end_offset}");
            h.create_topic(&name, *partitions, *replication_factor);
            return;
        }
        Event::GrowTopic(i) => {
            let Some(topic) = topic_ids.get(*i).and_then(|id| h.image.topic_by_id(*id)) else {
                return;
            };
            let request = CreatePartitionsRequest {
                topics: vec![CreatePartitionsTopic {
                    name: topic.name.clone(),
                    count: topic.partitions.len() as i32 + 1,
                    assignments: None,
                }],
                validate_only: false,
            };
            h.state.create_partitions(&h.image, &request).records
        }
        Event::DeleteTopic(i) => {
            let Some(id) = topic_ids.get(*i) else {
                return;
            };
            let request = DeleteTopicsRequest {
                names: Vec::new(),
                topic_ids: vec![*id],
            };
            h.state.delete_topics(&h.image, &request).records
        }
        Event::ShrinkIsr {
            topic,
            partition,
            keep,
        } => alter(h, topic_ids.get(*topic).copied(), *partition, |state| {
            let mut isr = vec![state.leader];
            isr.extend(state.isr.iter().filter(|b| **b != state.leader).take(*keep));
            isr
        }),
        Event::ExpandIsr { topic, partition } => {
            alter(h, topic_ids.get(*topic).copied(), *partition, |state| {
                state.replicas.clone()
            })
        }
        Event::AllocateProducerIds(id) => {
            let Some(b) = h.image.broker(*id) else {
                return;
            };
            let request = AllocateProducerIdsRequest {
                broker_id: *id,
                broker_epoch: b.broker_epoch,
            };
            h.state.allocate_producer_ids(&h.image, &request).records
        }
    };
    h.commit(&records);
}

fn alter(
    h: &Harness,
    topic_id: Option<Uuid>,
    partition: i32,
    new_isr: impl FnOnce(&crate::image::PartitionState) -> Vec<i32>,
) -> Vec<MetadataRecord> {
    let Some(topic_id) = topic_id else {
        return Vec::new();
    };
    let Some(state) = h.image.partition(topic_id, partition) else {
        return Vec::new();
    };
    let Some(leader) = h.image.broker(state.leader) else {
        return Vec::new();
    };
    let request = AlterPartitionRequest {
        broker_id: state.leader,
        broker_epoch: leader.broker_epoch,
        partitions: vec![AlterPartitionItem {
            topic_id,
            partition,
            leader_epoch: state.leader_epoch,
            new_isr: new_isr(state),
            partition_epoch: state.partition_epoch,
        }],
    };
    h.state.alter_partition(&h.image, &request).records
}

/// What the history of every partition must satisfy.
#[derive(Default)]
struct History {
    /// (topic, partition, leader epoch) -> the one leader of that epoch.
    leaders: BTreeMap<(Uuid, i32, i32), i32>,
    /// (topic, partition) -> the last (leader epoch, partition epoch) seen.
    epochs: BTreeMap<(Uuid, i32), (i32, i32)>,
}

fn check_invariants(image: &MetadataImage, history: &mut History) -> Result<(), TestCaseError> {
    for (topic_id, partition, state) in image.all_partitions() {
        let distinct: BTreeSet<_> = state.replicas.iter().collect();
        prop_assert_eq!(distinct.len(), state.replicas.len(), "replicas distinct");
        prop_assert!(state.isr.iter().all(|b| state.replicas.contains(b)));
        prop_assert!(state.leader == NO_LEADER || state.isr.contains(&state.leader));
        prop_assert!(
            state.leader == NO_LEADER || image.is_live(state.leader),
            "leader {} of {}-{} is not live",
            state.leader,
            topic_id,
            partition
        );
        let leader = history
            .leaders
            .entry((topic_id, partition, state.leader_epoch))
            .or_insert(state.leader);
        prop_assert_eq!(*leader, state.leader, "one leader per leader epoch");
        let epochs = (state.leader_epoch, state.partition_epoch);
        if let Some(last) = history.epochs.insert((topic_id, partition), epochs) {
            prop_assert!(epochs.0 >= last.0 && epochs.1 >= last.1, "epochs went back");
        }
    }
    Ok(())
}

/// The image a replay of `records` from nothing builds.
fn replayed(records: &[MetadataRecord]) -> MetadataImage {
    let mut image = MetadataImage::new();
    for record in records {
        image.apply(record).expect("committed records replay");
    }
    image
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_event_sequences_keep_every_invariant(events in proptest::collection::vec(event(), 1..80)) {
        let mut h = Harness::new();
        h.log_commits = Some(Vec::new());
        let mut history = History::default();
        for event in &events {
            drive(&mut h, event);
            check_invariants(&h.image, &mut history)?;
        }
        // Replaying the committed log (through the codec) gives the same image.
        let log = h.log_commits.take().unwrap_or_default();
        let decoded = decode_batch(&encode_batch(&log)).unwrap();
        prop_assert_eq!(replayed(&decoded), h.image);
    }

    #[test]
    fn placement_without_racks_balances_replicas_and_leaders_within_one(
        brokers in 1..9usize,
        partitions in 1..60usize,
        replication_factor in 1..5usize,
        load in proptest::collection::vec(0..20usize, 9),
    ) {
        prop_assume!(replication_factor <= brokers);
        let brokers: Vec<PlacementBroker> = (0..brokers)
            .map(|i| PlacementBroker {
                broker_id: i as i32 + 1,
                rack: None,
                cluster_replicas: load[i],
            })
            .collect();
        let placed = place_replicas(&brokers, &[], partitions, replication_factor).unwrap();
        prop_assert_eq!(placed.len(), partitions);
        let mut replicas: BTreeMap<i32, usize> = brokers.iter().map(|b| (b.broker_id, 0)).collect();
        let mut leaders = replicas.clone();
        for list in &placed {
            let distinct: BTreeSet<_> = list.iter().collect();
            prop_assert_eq!(distinct.len(), replication_factor);
            *leaders.get_mut(&list[0]).unwrap() += 1;
            for b in list {
                *replicas.get_mut(b).unwrap() += 1;
            }
        }
        let spread = |m: &BTreeMap<i32, usize>| m.values().max().unwrap() - m.values().min().unwrap();
        prop_assert!(spread(&replicas) <= 1, "replicas {:?}", replicas);
        prop_assert!(spread(&leaders) <= 1, "leaders {:?}", leaders);
    }

    #[test]
    fn placement_with_racks_spreads_each_partition_over_racks(
        brokers in 1..10usize,
        racks in 1..4usize,
        partitions in 1..30usize,
        replication_factor in 1..5usize,
    ) {
        prop_assume!(replication_factor <= brokers);
        let brokers: Vec<PlacementBroker> = (0..brokers)
            .map(|i| PlacementBroker {
                broker_id: i as i32 + 1,
                rack: Some(format!("r{}", i % racks)),
                cluster_replicas: 0,
            })
            .collect();
        let rack_count = brokers.len().min(racks);
        let placed = place_replicas(&brokers, &[], partitions, replication_factor).unwrap();
        for list in &placed {
            let used: BTreeSet<_> = list.iter().map(|b| &brokers[*b as usize - 1].rack).collect();
            prop_assert_eq!(used.len(), replication_factor.min(rack_count), "{:?}", list);
        }
    }
}
