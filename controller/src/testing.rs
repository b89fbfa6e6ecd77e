//! Shared fixtures for the crate's unit tests.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::records::{
    BrokerEndpoint, BrokerEpochRef, BrokerId, MetadataRecord, PartitionRecord,
    RegisterBrokerRecord, TopicRecord,
};

/// A deterministic uuid from a small number.
pub fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// A registration of `broker_id` with `broker_epoch`, on `rack`.
pub fn register(broker_id: BrokerId, broker_epoch: i64, rack: Option<&str>) -> MetadataRecord {
    MetadataRecord::RegisterBroker(RegisterBrokerRecord {
        broker_id,
        incarnation_id: uuid(1000 + broker_epoch as u128),
        broker_epoch,
        endpoints: vec![BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092 + broker_id as u16,
            security_protocol: 0,
        }],
        rack: rack.map(str::to_owned),
    })
}

/// Names registration `broker_epoch` of `broker_id`.
pub fn epoch_ref(broker_id: BrokerId, broker_epoch: i64) -> BrokerEpochRef {
    BrokerEpochRef {
        broker_id,
        broker_epoch,
    }
}

/// A topic record with no configs.
pub fn topic(topic_id: Uuid, name: &str) -> MetadataRecord {
    MetadataRecord::Topic(TopicRecord {
        topic_id,
        name: name.into(),
        configs: BTreeMap::new(),
    })
}

/// A partition at epoch 0 led by its first replica, all replicas in sync.
pub fn partition(topic_id: Uuid, partition: i32, replicas: &[BrokerId]) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id,
        partition,
        replicas: replicas.to_vec(),
        isr: replicas.to_vec(),
        leader: replicas[0],
        leader_epoch: 0,
        partition_epoch: 0,
    })
}

/// A controller and the image it has built, driven by tests: every decision's
/// records are applied at once (as if committed).
#[derive(Debug)]
pub struct Harness {
    /// The decisions under test.
    pub state: crate::state::ControllerState,
    /// The image the committed records built.
    pub image: crate::image::MetadataImage,
    /// The injected clock.
    pub now_ms: u64,
    /// Records committed so far (stands in for the metadata log end offset).
    pub log_end_offset: i64,
    next_topic_id: u128,
    /// When set, every committed record is also kept here (for replay).
    pub log_commits: Option<Vec<MetadataRecord>>,
}

impl Harness {
    /// A controller with default settings and no brokers.
    pub fn new() -> Self {
        Self::with_config(crate::config::ControllerConfig::default())
    }

    /// A controller with `config` and no brokers.
    pub fn with_config(config: crate::config::ControllerConfig) -> Self {
        Self {
            state: crate::state::ControllerState::new(config),
            image: crate::image::MetadataImage::new(),
            now_ms: 1_000,
            log_end_offset: 0,
            next_topic_id: 1,
            log_commits: None,
        }
    }

    /// Applies records as the shell would after they commit.
    pub fn commit(&mut self, records: &[MetadataRecord]) {
        for record in records {
            self.image
                .apply(record)
                .unwrap_or_else(|e| panic!("decision made a record that does not fit: {e}"));
            self.log_end_offset += 1;
            if let Some(log) = &mut self.log_commits {
                log.push(record.clone());
            }
        }
    }

    /// Registers `broker_id` on `rack` and returns its broker epoch.
    pub fn register(&mut self, broker_id: BrokerId, rack: Option<&str>) -> i64 {
        let request = crate::messages::RegisterBrokerRequest {
            broker_id,
            incarnation_id: Uuid::from_u128(self.log_end_offset as u128 + 77_000),
            endpoints: Vec::new(),
            rack: rack.map(str::to_owned),
        };
        let decision =
            self.state
                .register_broker(&self.image, self.now_ms, self.log_end_offset, &request);
        assert_eq!(decision.response.error, sluice_protocol::ErrorCode::None);
        self.commit(&decision.records);
        decision.response.broker_epoch
    }

    /// Sends a heartbeat and commits its records.
    pub fn heartbeat(
        &mut self,
        broker_id: BrokerId,
        want_shut_down: bool,
    ) -> crate::messages::HeartbeatResponse {
        let broker_epoch = self.image.broker(broker_id).map_or(-1, |b| b.broker_epoch);
        let request = crate::messages::HeartbeatRequest {
            broker_id,
            broker_epoch,
            current_metadata_offset: self.log_end_offset,
            want_fence: false,
            want_shut_down,
        };
        let decision = self.state.heartbeat(&self.image, self.now_ms, &request);
        self.commit(&decision.records);
        decision.response
    }

    /// Registers and unfences brokers `1..=count`, on racks when given.
    pub fn live_brokers(count: BrokerId, racks: &[&str]) -> Self {
        let mut harness = Self::new();
        for id in 1..=count {
            let rack = (!racks.is_empty()).then(|| racks[(id as usize - 1) % racks.len()]);
            harness.register(id, rack);
            let response = harness.heartbeat(id, false);
            assert!(!response.is_fenced);
        }
        harness
    }

    /// Moves the clock and runs the controller's periodic check.
    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
        let records = self.state.tick(&self.image, self.now_ms);
        self.commit(&records);
    }

    /// Creates a topic by partitions and replication factor.
    pub fn create_topic(
        &mut self,
        name: &str,
        num_partitions: i32,
        replication_factor: i16,
    ) -> crate::messages::CreatedTopic {
        let request = crate::messages::CreateTopicsRequest {
            topics: vec![crate::messages::CreatableTopic {
                name: name.into(),
                num_partitions,
                replication_factor,
                ..Default::default()
            }],
            validate_only: false,
        };
        let mut next = self.next_topic_id;
        let decision = self.state.create_topics(&self.image, &request, &mut || {
            next += 1;
            Uuid::from_u128(next)
        });
        self.next_topic_id = next;
        self.commit(&decision.records);
        decision
            .response
            .into_iter()
            .next()
            .expect("one topic asked, one answered")
    }
}
