//! Valid request frames for the `request` and `frame` targets: every served
//! API at every served version, with a body that fills its arrays, strings
//! and (for Produce) record batches of every codec.
//!
//! Fields a version does not have are left at their defaults, which the
//! encoder requires.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use sluice_protocol::{BatchBuilder, Compression, SUPPORTED_APIS, encode_request};
use uuid::Uuid;

fn text(s: &'static str) -> StrBytes {
    StrBytes::from_static_str(s)
}

fn topic(s: &'static str) -> TopicName {
    TopicName(text(s))
}

fn group(s: &'static str) -> GroupId {
    GroupId(text(s))
}

const TOPIC_ID: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

/// Every served request at every served version, as frames without the
/// length prefix.
pub fn all_requests() -> Vec<Bytes> {
    let mut frames = Vec::new();
    for api in SUPPORTED_APIS {
        for version in api.min_version..=api.max_version {
            frames.extend(request_frame(api.api_key, version));
        }
    }
    frames
}

fn frame<Q: Encodable + HeaderVersion>(key: ApiKey, version: i16, body: &Q) -> Option<Bytes> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(text("fuzz-seed")));
    encode_request(&header, body).ok()
}

/// Record batches of every codec, for Produce seeds.
pub fn record_batches() -> Vec<Bytes> {
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    codecs
        .into_iter()
        .filter_map(|codec| {
            let mut builder = BatchBuilder::new(codec, 64 * 1024);
            builder.set_producer(1000, 2);
            builder.set_base_sequence(5);
            let appended = builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[])
                && builder.append(
                    1_700_000_000_003,
                    None,
                    Some(b"second value, a little longer"),
                    &[("trace", Some(b"abc")), ("empty", None)],
                );
            if appended { builder.build().ok() } else { None }
        })
        .collect()
}

fn request_frame(key: ApiKey, v: i16) -> Vec<Bytes> {
    let one = |body: Option<Bytes>| body.into_iter().collect::<Vec<_>>();
    match key {
        ApiKey::Produce => record_batches()
            .into_iter()
            .filter_map(|batch| frame(key, v, &produce(v, batch)))
            .collect(),
        ApiKey::Fetch => one(frame(key, v, &fetch(v))),
        ApiKey::ListOffsets => one(frame(key, v, &list_offsets(v))),
        ApiKey::Metadata => one(frame(key, v, &metadata(v))),
        ApiKey::OffsetCommit => one(frame(key, v, &offset_commit(v))),
        ApiKey::OffsetFetch => one(frame(key, v, &offset_fetch(v))),
        ApiKey::FindCoordinator => one(frame(key, v, &find_coordinator(v))),
        ApiKey::JoinGroup => one(frame(key, v, &join_group(v))),
        ApiKey::Heartbeat => one(frame(key, v, &heartbeat(v))),
        ApiKey::LeaveGroup => one(frame(key, v, &leave_group(v))),
        ApiKey::SyncGroup => one(frame(key, v, &sync_group(v))),
        ApiKey::DescribeGroups => one(frame(key, v, &describe_groups(v))),
        ApiKey::ListGroups => one(frame(key, v, &list_groups(v))),
        ApiKey::ApiVersions => one(frame(key, v, &api_versions(v))),
        ApiKey::CreateTopics => one(frame(key, v, &create_topics())),
        ApiKey::DeleteTopics => one(frame(key, v, &delete_topics(v))),
        ApiKey::DeleteRecords => one(frame(key, v, &delete_records())),
        ApiKey::InitProducerId => one(frame(key, v, &init_producer_id(v))),
        ApiKey::DescribeConfigs => one(frame(key, v, &describe_configs(v))),
        ApiKey::AlterConfigs => one(frame(key, v, &alter_configs())),
        ApiKey::DescribeLogDirs => one(frame(key, v, &describe_log_dirs())),
        ApiKey::CreatePartitions => one(frame(key, v, &create_partitions())),
        ApiKey::DeleteGroups => one(frame(key, v, &delete_groups())),
        ApiKey::ElectLeaders => one(frame(key, v, &elect_leaders(v))),
        ApiKey::IncrementalAlterConfigs => one(frame(key, v, &incremental_alter_configs())),
        ApiKey::OffsetDelete => one(frame(key, v, &offset_delete())),
        ApiKey::DescribeCluster => one(frame(key, v, &describe_cluster(v))),
        ApiKey::DescribeProducers => one(frame(key, v, &describe_producers())),
        ApiKey::DescribeQuorum => one(frame(key, v, &describe_quorum())),
        _ => Vec::new(),
    }
}

fn produce(v: i16, batch: Bytes) -> ProduceRequest {
    use produce_request::{PartitionProduceData, TopicProduceData};
    let mut data = TopicProduceData::default().with_partition_data(vec![
        PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(batch.clone())),
        PartitionProduceData::default()
            .with_index(3)
            .with_records(Some(batch)),
    ]);
    if v >= 13 {
        data = data.with_topic_id(TOPIC_ID);
    } else {
        data = data.with_name(topic("orders"));
    }
    ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![data])
}

fn fetch(v: i16) -> FetchRequest {
    use fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
    let mut partition = FetchPartition::default()
        .with_partition(1)
        .with_fetch_offset(42)
        .with_partition_max_bytes(1 << 20);
    if v >= 5 {
        partition = partition.with_log_start_offset(3);
    }
    if v >= 9 {
        partition = partition.with_current_leader_epoch(4);
    }
    if v >= 12 {
        partition = partition.with_last_fetched_epoch(4);
    }
    let mut fetch_topic = FetchTopic::default().with_partitions(vec![partition.clone(), partition]);
    let mut forgotten = ForgottenTopic::default().with_partitions(vec![7, 8]);
    if v >= 13 {
        fetch_topic = fetch_topic.with_topic_id(TOPIC_ID);
        forgotten = forgotten.with_topic_id(TOPIC_ID);
    } else {
        fetch_topic = fetch_topic.with_topic(topic("orders"));
        forgotten = forgotten.with_topic(topic("old"));
    }
    let mut request = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_isolation_level(1)
        .with_topics(vec![fetch_topic]);
    if v >= 7 {
        request = request
            .with_session_id(9)
            .with_session_epoch(2)
            .with_forgotten_topics_data(vec![forgotten]);
    }
    if v >= 11 {
        request = request.with_rack_id(text("rack-a"));
    }
    if v >= 12 {
        request = request.with_cluster_id(Some(text("cluster")));
    }
    request
}

fn list_offsets(v: i16) -> ListOffsetsRequest {
    use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let mut partition = ListOffsetsPartition::default()
        .with_partition_index(2)
        .with_timestamp(-1);
    if v >= 4 {
        partition = partition.with_current_leader_epoch(3);
    }
    let mut request = ListOffsetsRequest::default().with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(topic("orders"))
            .with_partitions(vec![partition.clone(), partition.with_timestamp(-2)]),
    ]);
    if v >= 2 {
        request = request.with_isolation_level(1);
    }
    if v >= 10 {
        request = request.with_timeout_ms(1000);
    }
    request
}

fn metadata(v: i16) -> MetadataRequest {
    use metadata_request::MetadataRequestTopic;
    let mut request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic("orders"))),
        MetadataRequestTopic::default().with_name(Some(topic("payments"))),
    ]));
    if v >= 4 {
        request = request.with_allow_auto_topic_creation(true);
    }
    if (8..=10).contains(&v) {
        request = request.with_include_cluster_authorized_operations(true);
    }
    if v >= 8 {
        request = request.with_include_topic_authorized_operations(true);
    }
    request
}

fn offset_commit(v: i16) -> OffsetCommitRequest {
    use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    let mut partition = OffsetCommitRequestPartition::default()
        .with_partition_index(1)
        .with_committed_offset(100)
        .with_committed_metadata(Some(text("meta")));
    if v >= 6 {
        partition = partition.with_committed_leader_epoch(2);
    }
    let mut request = OffsetCommitRequest::default()
        .with_group_id(group("group-a"))
        .with_generation_id_or_member_epoch(3)
        .with_member_id(text("member-1"))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![partition.clone(), partition.with_partition_index(2)]),
        ]);
    if v >= 7 {
        request = request.with_group_instance_id(Some(text("instance")));
    }
    if v <= 4 {
        request = request.with_retention_time_ms(60_000);
    }
    request
}

fn offset_fetch(v: i16) -> OffsetFetchRequest {
    use offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    let mut request = OffsetFetchRequest::default();
    if v <= 7 {
        request = request
            .with_group_id(group("group-a"))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(topic("orders"))
                    .with_partition_indexes(vec![0, 1, 2]),
            ]));
    } else {
        let mut entry = OffsetFetchRequestGroup::default()
            .with_group_id(group("group-a"))
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(topic("orders"))
                    .with_partition_indexes(vec![0, 1, 2]),
            ]));
        if v >= 9 {
            entry = entry
                .with_member_id(Some(text("member-1")))
                .with_member_epoch(4);
        }
        request = request.with_groups(vec![entry.clone(), entry.with_group_id(group("b"))]);
    }
    if v >= 7 {
        request = request.with_require_stable(true);
    }
    request
}

fn find_coordinator(v: i16) -> FindCoordinatorRequest {
    let mut request = FindCoordinatorRequest::default();
    if v <= 3 {
        request = request.with_key(text("group-a"));
    } else {
        request = request.with_coordinator_keys(vec![text("group-a"), text("group-b")]);
    }
    if v >= 1 {
        request = request.with_key_type(0);
    }
    request
}

fn join_group(v: i16) -> JoinGroupRequest {
    use join_group_request::JoinGroupRequestProtocol;
    let protocol = JoinGroupRequestProtocol::default()
        .with_name(text("range"))
        .with_metadata(Bytes::from_static(
            b"\x00\x01\x00\x00\x00\x01\x00\x06orders",
        ));
    let mut request = JoinGroupRequest::default()
        .with_group_id(group("group-a"))
        .with_session_timeout_ms(10_000)
        .with_member_id(text("member-1"))
        .with_protocol_type(text("consumer"))
        .with_protocols(vec![
            protocol.clone(),
            protocol.with_name(text("roundrobin")),
        ]);
    if v >= 1 {
        request = request.with_rebalance_timeout_ms(30_000);
    }
    if v >= 5 {
        request = request.with_group_instance_id(Some(text("instance")));
    }
    if v >= 8 {
        request = request.with_reason(Some(text("rejoin")));
    }
    request
}

fn heartbeat(v: i16) -> HeartbeatRequest {
    let request = HeartbeatRequest::default()
        .with_group_id(group("group-a"))
        .with_generation_id(3)
        .with_member_id(text("member-1"));
    if v >= 3 {
        request.with_group_instance_id(Some(text("instance")))
    } else {
        request
    }
}

fn leave_group(v: i16) -> LeaveGroupRequest {
    use leave_group_request::MemberIdentity;
    let request = LeaveGroupRequest::default().with_group_id(group("group-a"));
    if v <= 2 {
        return request.with_member_id(text("member-1"));
    }
    let mut member = MemberIdentity::default()
        .with_member_id(text("member-1"))
        .with_group_instance_id(Some(text("instance")));
    if v >= 5 {
        member = member.with_reason(Some(text("bye")));
    }
    request.with_members(vec![member.clone(), member.with_member_id(text("m2"))])
}

fn sync_group(v: i16) -> SyncGroupRequest {
    use sync_group_request::SyncGroupRequestAssignment;
    let assignment = SyncGroupRequestAssignment::default()
        .with_member_id(text("member-1"))
        .with_assignment(Bytes::from_static(
            b"\x00\x01\x00\x00\x00\x01\x00\x06orders",
        ));
    let mut request = SyncGroupRequest::default()
        .with_group_id(group("group-a"))
        .with_generation_id(3)
        .with_member_id(text("member-1"))
        .with_assignments(vec![assignment.clone(), assignment]);
    if v >= 3 {
        request = request.with_group_instance_id(Some(text("instance")));
    }
    if v >= 5 {
        request = request
            .with_protocol_type(Some(text("consumer")))
            .with_protocol_name(Some(text("range")));
    }
    request
}

fn describe_groups(v: i16) -> DescribeGroupsRequest {
    let request =
        DescribeGroupsRequest::default().with_groups(vec![group("group-a"), group("group-b")]);
    if v >= 3 {
        request.with_include_authorized_operations(true)
    } else {
        request
    }
}

fn list_groups(v: i16) -> ListGroupsRequest {
    let mut request = ListGroupsRequest::default();
    if v >= 4 {
        request = request.with_states_filter(vec![text("Stable"), text("Empty")]);
    }
    if v >= 5 {
        request = request.with_types_filter(vec![text("classic")]);
    }
    request
}

fn api_versions(v: i16) -> ApiVersionsRequest {
    let request = ApiVersionsRequest::default();
    if v >= 3 {
        request
            .with_client_software_name(text("sluice-fuzz"))
            .with_client_software_version(text("0.1.0"))
    } else {
        request
    }
}

fn create_topics() -> CreateTopicsRequest {
    use create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig};
    let configured = CreatableTopic::default()
        .with_name(topic("orders"))
        .with_num_partitions(3)
        .with_replication_factor(1)
        .with_configs(vec![
            CreatableTopicConfig::default()
                .with_name(text("retention.ms"))
                .with_value(Some(text("1000"))),
            CreatableTopicConfig::default().with_name(text("cleanup.policy")),
        ]);
    let assigned = CreatableTopic::default()
        .with_name(topic("assigned"))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![
            CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(vec![BrokerId(1), BrokerId(2)]),
        ]);
    CreateTopicsRequest::default()
        .with_topics(vec![configured, assigned])
        .with_timeout_ms(30_000)
        .with_validate_only(true)
}

fn delete_topics(v: i16) -> DeleteTopicsRequest {
    use delete_topics_request::DeleteTopicState;
    let request = DeleteTopicsRequest::default().with_timeout_ms(30_000);
    if v >= 6 {
        request.with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic("orders"))),
            DeleteTopicState::default().with_topic_id(TOPIC_ID),
        ])
    } else {
        request.with_topic_names(vec![topic("orders"), topic("payments")])
    }
}

fn delete_records() -> DeleteRecordsRequest {
    use delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    DeleteRecordsRequest::default()
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(10),
                    DeleteRecordsPartition::default()
                        .with_partition_index(1)
                        .with_offset(-1),
                ]),
        ])
        .with_timeout_ms(1000)
}

fn init_producer_id(v: i16) -> InitProducerIdRequest {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(text("txn-1"))))
        .with_transaction_timeout_ms(60_000);
    if v >= 3 {
        request
            .with_producer_id(ProducerId(5))
            .with_producer_epoch(1)
    } else {
        request
    }
}

fn describe_configs(v: i16) -> DescribeConfigsRequest {
    use describe_configs_request::DescribeConfigsResource;
    let request = DescribeConfigsRequest::default()
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(text("orders"))
                .with_configuration_keys(Some(vec![text("retention.ms")])),
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(text("1"))
                .with_configuration_keys(None),
        ])
        .with_include_synonyms(true);
    if v >= 3 {
        request.with_include_documentation(true)
    } else {
        request
    }
}

fn alter_configs() -> AlterConfigsRequest {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    AlterConfigsRequest::default()
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(text("orders"))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(text("retention.ms"))
                        .with_value(Some(text("5000"))),
                    AlterableConfig::default().with_name(text("segment.bytes")),
                ]),
        ])
        .with_validate_only(true)
}

fn describe_log_dirs() -> DescribeLogDirsRequest {
    use describe_log_dirs_request::DescribableLogDirTopic;
    DescribeLogDirsRequest::default().with_topics(Some(vec![
        DescribableLogDirTopic::default()
            .with_topic(topic("orders"))
            .with_partitions(vec![0, 1]),
    ]))
}

fn create_partitions() -> CreatePartitionsRequest {
    use create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
    CreatePartitionsRequest::default()
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(topic("orders"))
                .with_count(6)
                .with_assignments(Some(vec![
                    CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(1)]),
                ])),
            CreatePartitionsTopic::default()
                .with_name(topic("payments"))
                .with_count(2),
        ])
        .with_timeout_ms(1000)
        .with_validate_only(true)
}

fn delete_groups() -> DeleteGroupsRequest {
    DeleteGroupsRequest::default().with_groups_names(vec![group("group-a"), group("group-b")])
}

fn elect_leaders(v: i16) -> ElectLeadersRequest {
    use elect_leaders_request::TopicPartitions;
    let request = ElectLeadersRequest::default()
        .with_topic_partitions(Some(vec![
            TopicPartitions::default()
                .with_topic(topic("orders"))
                .with_partitions(vec![0, 1, 2]),
        ]))
        .with_timeout_ms(1000);
    if v >= 1 {
        request.with_election_type(1)
    } else {
        request
    }
}

fn incremental_alter_configs() -> IncrementalAlterConfigsRequest {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    IncrementalAlterConfigsRequest::default()
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(text("orders"))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(text("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(text("5000"))),
                    AlterableConfig::default()
                        .with_name(text("cleanup.policy"))
                        .with_config_operation(1),
                ]),
        ])
        .with_validate_only(true)
}

fn offset_delete() -> OffsetDeleteRequest {
    use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
    OffsetDeleteRequest::default()
        .with_group_id(group("group-a"))
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0),
                    OffsetDeleteRequestPartition::default().with_partition_index(1),
                ]),
        ])
}

fn describe_quorum() -> DescribeQuorumRequest {
    let partition = describe_quorum_request::PartitionData::default().with_partition_index(0);
    DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(topic("__cluster_metadata"))
            .with_partitions(vec![partition.clone(), partition]),
    ])
}

fn describe_cluster(v: i16) -> DescribeClusterRequest {
    let mut request =
        DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    if v >= 1 {
        request = request.with_endpoint_type(1);
    }
    if v >= 2 {
        request = request.with_include_fenced_brokers(true);
    }
    request
}

fn describe_producers() -> DescribeProducersRequest {
    use describe_producers_request::TopicRequest;
    DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(topic("orders"))
            .with_partition_indexes(vec![0, 1]),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_version_has_a_seed() {
        let frames = all_requests();
        for api in SUPPORTED_APIS {
            for version in api.min_version..=api.max_version {
                let found = frames.iter().any(|f| {
                    f[..2] == (api.api_key as i16).to_be_bytes() && f[2..4] == version.to_be_bytes()
                });
                assert!(found, "{:?} v{version}", api.api_key);
            }
        }
    }

    #[test]
    fn there_is_a_batch_of_every_codec() {
        assert_eq!(record_batches().len(), 5);
    }
}
