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
