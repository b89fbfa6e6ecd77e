//! Behaviour of [`MetadataImage::apply`] and its queries.

use crate::error::ApplyError;
use crate::image::MetadataImage;
use crate::records::{
    ConfigRecord, ConfigResource, MetadataRecord, NO_LEADER, PartitionChangeRecord,
    ProducerIdsRecord,
};
use crate::testing::{epoch_ref, partition, register, topic, uuid};

fn three_brokers_one_topic() -> MetadataImage {
    let mut image = MetadataImage::new();
    for (id, epoch) in [(1, 1), (2, 2), (3, 3)] {
        image.apply(&register(id, epoch, None)).unwrap();
        image
            .apply(&MetadataRecord::UnfenceBroker(epoch_ref(id, epoch)))
            .unwrap();
    }
    image.apply(&topic(uuid(7), "orders")).unwrap();
    image.apply(&partition(uuid(7), 0, &[1, 2, 3])).unwrap();
    image.apply(&partition(uuid(7), 1, &[2, 3, 1])).unwrap();
    image
}

fn change(leader: i32, isr: &[i32], leader_epoch: i32, partition_epoch: i32) -> MetadataRecord {
    MetadataRecord::PartitionChange(PartitionChangeRecord {
        topic_id: uuid(7),
        partition: 0,
        leader,
        isr: isr.to_vec(),
        leader_epoch,
        partition_epoch,
    })
}

#[test]
fn registered_broker_starts_fenced_and_is_live_once_unfenced() {
    let mut image = MetadataImage::new();
    image.apply(&register(1, 1, Some("a"))).unwrap();
    assert!(image.broker(1).unwrap().fenced);
    assert_eq!(image.live_brokers().count(), 0);
    image
        .apply(&MetadataRecord::UnfenceBroker(epoch_ref(1, 1)))
        .unwrap();
    assert!(image.is_live(1));
    assert_eq!(image.broker(1).unwrap().rack.as_deref(), Some("a"));
}

#[test]
fn new_registration_replaces_the_old_and_stales_its_epoch() {
    let mut image = MetadataImage::new();
    image.apply(&register(1, 1, None)).unwrap();
    image.apply(&register(1, 2, None)).unwrap();
    assert_eq!(image.broker(1).unwrap().broker_epoch, 2);
    let stale = image.apply(&MetadataRecord::UnfenceBroker(epoch_ref(1, 1)));
    assert!(matches!(stale, Err(ApplyError::StaleBrokerEpoch { .. })));
}

#[test]
fn registration_with_a_broker_epoch_not_above_the_last_is_rejected() {
    let mut image = MetadataImage::new();
    image.apply(&register(1, 5, None)).unwrap();
    let before = image.clone();
    let err = image.apply(&register(2, 5, None)).unwrap_err();
    assert!(matches!(err, ApplyError::BrokerEpochNotIncreasing { .. }));
    assert_eq!(image, before);
}

#[test]
fn partition_of_an_unknown_topic_is_rejected() {
    let mut image = MetadataImage::new();
    let err = image.apply(&partition(uuid(9), 0, &[1])).unwrap_err();
    assert_eq!(err, ApplyError::UnknownTopic(uuid(9)));
}

#[test]
fn partitions_must_be_created_densely_from_zero() {
    let mut image = MetadataImage::new();
    image.apply(&topic(uuid(7), "t")).unwrap();
    let err = image.apply(&partition(uuid(7), 1, &[1])).unwrap_err();
    assert_eq!(
        err,
        ApplyError::PartitionNotNext {
            partition: 1,
            next: 0
        }
    );
}

#[test]
fn duplicate_topic_name_is_rejected() {
    let mut image = MetadataImage::new();
    image.apply(&topic(uuid(7), "t")).unwrap();
    let err = image.apply(&topic(uuid(8), "t")).unwrap_err();
    assert_eq!(err, ApplyError::DuplicateTopicName("t".into()));
}

#[test]
fn leader_outside_the_isr_is_rejected() {
    let mut image = three_brokers_one_topic();
    let before = image.clone();
    let err = image.apply(&change(3, &[1, 2], 1, 1)).unwrap_err();
    assert_eq!(err, ApplyError::LeaderNotInIsr(3));
    assert_eq!(image, before);
}

#[test]
fn isr_outside_the_replicas_is_rejected() {
    let mut image = three_brokers_one_topic();
    let err = image.apply(&change(1, &[1, 4], 0, 1)).unwrap_err();
    assert_eq!(err, ApplyError::InvalidIsr(vec![1, 4]));
}

#[test]
fn leader_change_bumps_leader_and_partition_epochs() {
    let mut image = three_brokers_one_topic();
    image.apply(&change(2, &[2, 3], 1, 1)).unwrap();
    let state = image.partition(uuid(7), 0).unwrap();
    assert_eq!(
        (state.leader, state.leader_epoch, state.partition_epoch),
        (2, 1, 1)
    );
    assert_eq!(state.isr, vec![2, 3]);
}

#[test]
fn isr_change_keeps_the_leader_epoch_and_bumps_the_partition_epoch() {
    let mut image = three_brokers_one_topic();
    image.apply(&change(1, &[1, 2], 0, 1)).unwrap();
    let state = image.partition(uuid(7), 0).unwrap();
    assert_eq!((state.leader_epoch, state.partition_epoch), (0, 1));
}

#[test]
fn epochs_going_backwards_or_skipping_are_rejected() {
    let mut image = three_brokers_one_topic();
    image.apply(&change(2, &[2, 3], 1, 1)).unwrap();
    for bad in [
        change(3, &[3], 1, 2),
        change(3, &[3], 2, 1),
        change(3, &[3], 3, 2),
    ] {
        assert!(matches!(
            image.apply(&bad),
            Err(ApplyError::EpochMismatch { .. })
        ));
    }
}

#[test]
fn partition_may_go_offline_with_no_leader() {
    let mut image = three_brokers_one_topic();
    image.apply(&change(NO_LEADER, &[1], 1, 1)).unwrap();
    assert_eq!(image.leader(uuid(7), 0), Some(NO_LEADER));
}

#[test]
fn queries_tell_leaders_and_followers() {
    let image = three_brokers_one_topic();
    assert_eq!(image.partitions_led_by(2), vec![(uuid(7), 1)]);
    assert_eq!(image.partitions_followed_by(2), vec![(uuid(7), 0)]);
    assert_eq!(image.topic_by_name("orders").unwrap().topic_id, uuid(7));
    assert_eq!(image.partitions(uuid(7)).count(), 2);
    assert_eq!(image.live_brokers().count(), 3);
}

#[test]
fn removing_a_topic_frees_its_name() {
    let mut image = three_brokers_one_topic();
    image
        .apply(&MetadataRecord::RemoveTopic { topic_id: uuid(7) })
        .unwrap();
    assert!(image.topic_by_name("orders").is_none());
    assert_eq!(image.partitions(uuid(7)).count(), 0);
    image.apply(&topic(uuid(8), "orders")).unwrap();
}

#[test]
fn topic_config_changes_set_and_remove_values() {
    let mut image = three_brokers_one_topic();
    let set = |value: Option<&str>| {
        MetadataRecord::Config(ConfigRecord {
            resource: ConfigResource::Topic("orders".into()),
            name: "retention.ms".into(),
            value: value.map(str::to_owned),
        })
    };
    image.apply(&set(Some("1000"))).unwrap();
    let configs = image
        .configs(&ConfigResource::Topic("orders".into()))
        .unwrap();
    assert_eq!(
        configs.get("retention.ms").map(String::as_str),
        Some("1000")
    );
    image.apply(&set(None)).unwrap();
    let configs = image
        .configs(&ConfigResource::Topic("orders".into()))
        .unwrap();
    assert!(configs.is_empty());
}

#[test]
fn config_of_an_unknown_topic_is_rejected() {
    let mut image = MetadataImage::new();
    let err = image
        .apply(&MetadataRecord::Config(ConfigRecord {
            resource: ConfigResource::Topic("nope".into()),
            name: "x".into(),
            value: None,
        }))
        .unwrap_err();
    assert_eq!(err, ApplyError::UnknownTopicName("nope".into()));
}

#[test]
fn producer_id_blocks_must_follow_each_other() {
    let mut image = three_brokers_one_topic();
    let block = |first| {
        MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker: epoch_ref(1, 1),
            first_producer_id: first,
            block_size: 1000,
        })
    };
    image.apply(&block(0)).unwrap();
    assert_eq!(image.next_producer_id(), 1000);
    assert!(matches!(
        image.apply(&block(0)),
        Err(ApplyError::ProducerIdBlockNotNext { .. })
    ));
    image.apply(&block(1000)).unwrap();
}
