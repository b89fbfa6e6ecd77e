//! Counts read from the wire never size an allocation beyond what the bytes
//! received can justify (issue 21).
//!
//! For every API key and every version the broker serves, a valid request
//! with non-empty arrays and strings is encoded, and at every byte offset the
//! bytes there are overwritten with a huge count (an INT32 `i32::MAX`, an
//! INT16 `i16::MAX`, the largest unsigned varint). Each result goes through
//! the broker's decode path (`decode_request_frame`, the version check, then
//! `decode_body` with the API's message type); it must give a value or an
//! error, and a counting global allocator checks that no single allocation
//! grew past [`MAX_SINGLE_ALLOCATION_BYTES`]. The consumer protocol's
//! subscription and assignment, which travel inside JoinGroup and SyncGroup
//! and which the broker decodes too, get the same treatment. Before the
//! vendored patch a 15-byte Metadata body asked for 154 GB and aborted the
//! process.

mod allocation;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use sluice_protocol::{
    CodecError, RequestFrame, SUPPORTED_APIS, decode_request_frame, encode_request, is_supported,
};

use allocation::{CountingAllocator, largest_allocation};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// No decode of a request of under 1 KiB may allocate more than this at
/// once (the vendored patch reserves at most 64 KiB for a claimed count).
const MAX_SINGLE_ALLOCATION_BYTES: usize = 1024 * 1024;

/// The huge counts written over the request: INT32 and INT16 counts and
/// lengths at their maximum, and the largest unsigned varint (compact counts
/// and lengths, which are the value plus one).
const HUGE_COUNTS: &[&[u8]] = &[
    &[0x7f, 0xff, 0xff, 0xff],
    &[0x7f, 0xff],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0xfe, 0xff, 0xff, 0xff, 0x0f],
];

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn topic(text: &'static str) -> TopicName {
    TopicName(s(text))
}

fn group(text: &'static str) -> GroupId {
    GroupId(s(text))
}

/// Encodes `body` at `version` behind a request header, as a client sends it
/// (without the length prefix, which the frame codec has removed).
fn frame<Q: Encodable + HeaderVersion>(api_key: ApiKey, version: i16, body: &Q) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(s("bounded-decoding")));
    match encode_request(&header, body) {
        Ok(bytes) => bytes,
        Err(error) => panic!("{api_key:?} v{version} does not encode: {error}"),
    }
}

/// A valid request of `api_key` at `version` with every array and string
/// the version has filled in.
fn valid_request(api_key: ApiKey, v: i16) -> Bytes {
    match api_key {
        ApiKey::Produce => {
            let partition = produce_request::PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from_static(b"opaque record batch bytes")));
            let mut data = produce_request::TopicProduceData::default()
                .with_partition_data(vec![partition.clone(), partition]);
            if v <= 12 {
                data = data.with_name(topic("events"));
            }
            let body = ProduceRequest::default()
                .with_transactional_id(Some(TransactionalId(s("txn"))))
                .with_acks(-1)
                .with_timeout_ms(1000)
                .with_topic_data(vec![data]);
            frame(api_key, v, &body)
        }
        ApiKey::Fetch => {
            let partition = fetch_request::FetchPartition::default()
                .with_partition(1)
                .with_fetch_offset(5)
                .with_partition_max_bytes(1024);
            let mut fetch_topic = fetch_request::FetchTopic::default()
                .with_partitions(vec![partition.clone(), partition]);
            let mut forgotten =
                fetch_request::ForgottenTopic::default().with_partitions(vec![1, 2]);
            if v <= 12 {
                fetch_topic = fetch_topic.with_topic(topic("events"));
                forgotten = forgotten.with_topic(topic("old"));
            }
            let mut body = FetchRequest::default()
                .with_max_wait_ms(500)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_topics(vec![fetch_topic]);
            if v >= 7 {
                body = body.with_forgotten_topics_data(vec![forgotten]);
            }
            if v >= 11 {
                body = body.with_rack_id(s("rack-a"));
            }
            if v >= 12 {
                body = body.with_cluster_id(Some(s("cluster")));
            }
            frame(api_key, v, &body)
        }
        ApiKey::ListOffsets => {
            let partition = list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1);
            let body = ListOffsetsRequest::default().with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic("events"))
                    .with_partitions(vec![partition.clone(), partition]),
            ]);
            frame(api_key, v, &body)
        }
        ApiKey::Metadata => {
            let one =
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic("events")));
            let body = MetadataRequest::default().with_topics(Some(vec![one.clone(), one]));
            frame(api_key, v, &body)
        }
        ApiKey::OffsetCommit => {
            let partition = offset_commit_request::OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(10)
                .with_committed_metadata(Some(s("meta")));
            let mut body = OffsetCommitRequest::default()
                .with_group_id(group("grp"))
                .with_member_id(s("member-1"))
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic("events"))
                        .with_partitions(vec![partition.clone(), partition]),
                ]);
            if v >= 7 {
                body = body.with_group_instance_id(Some(s("instance")));
            }
            frame(api_key, v, &body)
        }
        ApiKey::OffsetFetch => {
            let body = if v <= 7 {
                OffsetFetchRequest::default()
                    .with_group_id(group("grp"))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopic::default()
                            .with_name(topic("events"))
                            .with_partition_indexes(vec![0, 1]),
                    ]))
            } else {
                let mut one = offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group("grp"))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(topic("events"))
                            .with_partition_indexes(vec![0, 1]),
                    ]));
                if v >= 9 {
                    one = one.with_member_id(Some(s("member-1")));
                }
                OffsetFetchRequest::default().with_groups(vec![one.clone(), one])
            };
            frame(api_key, v, &body)
        }
        ApiKey::FindCoordinator => {
            let body = if v <= 3 {
                FindCoordinatorRequest::default().with_key(s("grp"))
            } else {
                FindCoordinatorRequest::default().with_coordinator_keys(vec![s("grp"), s("g2")])
            };
            frame(api_key, v, &body)
        }
        ApiKey::JoinGroup => {
            let protocol = join_group_request::JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"subscription"));
            let mut body = JoinGroupRequest::default()
                .with_group_id(group("grp"))
                .with_session_timeout_ms(10_000)
                .with_member_id(s("member-1"))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![protocol.clone(), protocol]);
            if v >= 5 {
                body = body.with_group_instance_id(Some(s("instance")));
            }
            if v >= 8 {
                body = body.with_reason(Some(s("because")));
            }
            frame(api_key, v, &body)
        }
        ApiKey::Heartbeat => {
            let mut body = HeartbeatRequest::default()
                .with_group_id(group("grp"))
                .with_member_id(s("member-1"));
            if v >= 3 {
                body = body.with_group_instance_id(Some(s("instance")));
            }
            frame(api_key, v, &body)
        }
        ApiKey::LeaveGroup => {
            let body = if v <= 2 {
                LeaveGroupRequest::default()
                    .with_group_id(group("grp"))
                    .with_member_id(s("member-1"))
            } else {
                let mut member = leave_group_request::MemberIdentity::default()
                    .with_member_id(s("member-1"))
                    .with_group_instance_id(Some(s("instance")));
                if v >= 5 {
                    member = member.with_reason(Some(s("because")));
                }
                LeaveGroupRequest::default()
                    .with_group_id(group("grp"))
                    .with_members(vec![member.clone(), member])
            };
            frame(api_key, v, &body)
        }
        ApiKey::SyncGroup => {
            let assignment = sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(s("member-1"))
                .with_assignment(Bytes::from_static(b"assignment"));
            let mut body = SyncGroupRequest::default()
                .with_group_id(group("grp"))
                .with_member_id(s("member-1"))
                .with_assignments(vec![assignment.clone(), assignment]);
            if v >= 3 {
                body = body.with_group_instance_id(Some(s("instance")));
            }
            if v >= 5 {
                body = body
                    .with_protocol_type(Some(s("consumer")))
                    .with_protocol_name(Some(s("range")));
            }
            frame(api_key, v, &body)
        }
        ApiKey::DescribeGroups => {
            let body = DescribeGroupsRequest::default().with_groups(vec![group("a"), group("b")]);
            frame(api_key, v, &body)
        }
        ApiKey::ListGroups => {
            let mut body = ListGroupsRequest::default();
            if v >= 4 {
                body = body.with_states_filter(vec![s("Stable"), s("Empty")]);
            }
            if v >= 5 {
                body = body.with_types_filter(vec![s("classic")]);
            }
            frame(api_key, v, &body)
        }
        ApiKey::ApiVersions => {
            let mut body = ApiVersionsRequest::default();
            if v >= 3 {
                body = body
                    .with_client_software_name(s("sluice-test"))
                    .with_client_software_version(s("1.0"));
            }
            frame(api_key, v, &body)
        }
        ApiKey::CreateTopics => {
            let config = create_topics_request::CreatableTopicConfig::default()
                .with_name(s("cleanup.policy"))
                .with_value(Some(s("compact")));
            let assignment = create_topics_request::CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(vec![BrokerId(1), BrokerId(2)]);
            let one = create_topics_request::CreatableTopic::default()
                .with_name(topic("events"))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(vec![assignment])
                .with_configs(vec![config.clone(), config]);
            let body = CreateTopicsRequest::default().with_topics(vec![one.clone(), one]);
            frame(api_key, v, &body)
        }
        ApiKey::DeleteTopics => {
            let body = if v <= 5 {
                DeleteTopicsRequest::default().with_topic_names(vec![topic("a"), topic("b")])
            } else {
                let one =
                    delete_topics_request::DeleteTopicState::default().with_name(Some(topic("a")));
                DeleteTopicsRequest::default().with_topics(vec![one.clone(), one])
            };
            frame(api_key, v, &body)
        }
        ApiKey::DeleteRecords => {
            let partition = delete_records_request::DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(3);
            let body = DeleteRecordsRequest::default().with_topics(vec![
                delete_records_request::DeleteRecordsTopic::default()
                    .with_name(topic("events"))
                    .with_partitions(vec![partition.clone(), partition]),
            ]);
            frame(api_key, v, &body)
        }
        ApiKey::InitProducerId => {
            let body = InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s("txn"))))
                .with_transaction_timeout_ms(60_000);
            frame(api_key, v, &body)
        }
        ApiKey::DescribeConfigs => {
            let resource = describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("events"))
                .with_configuration_keys(Some(vec![s("retention.ms"), s("segment.bytes")]));
            let body =
                DescribeConfigsRequest::default().with_resources(vec![resource.clone(), resource]);
            frame(api_key, v, &body)
        }
        ApiKey::AlterConfigs => {
            let config = alter_configs_request::AlterableConfig::default()
                .with_name(s("retention.ms"))
                .with_value(Some(s("1000")));
            let resource = alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("events"))
                .with_configs(vec![config.clone(), config]);
            let body = AlterConfigsRequest::default().with_resources(vec![resource]);
            frame(api_key, v, &body)
        }
        ApiKey::DescribeLogDirs => {
            let one = describe_log_dirs_request::DescribableLogDirTopic::default()
                .with_topic(topic("events"))
                .with_partitions(vec![0, 1]);
            let body = DescribeLogDirsRequest::default().with_topics(Some(vec![one.clone(), one]));
            frame(api_key, v, &body)
        }
        ApiKey::CreatePartitions => {
            let assignment = create_partitions_request::CreatePartitionsAssignment::default()
                .with_broker_ids(vec![BrokerId(1), BrokerId(2)]);
            let one = create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic("events"))
                .with_count(3)
                .with_assignments(Some(vec![assignment]));
            let body = CreatePartitionsRequest::default().with_topics(vec![one.clone(), one]);
            frame(api_key, v, &body)
        }
        ApiKey::DeleteGroups => {
            let body =
                DeleteGroupsRequest::default().with_groups_names(vec![group("a"), group("b")]);
            frame(api_key, v, &body)
        }
        ApiKey::ElectLeaders => {
            let one = elect_leaders_request::TopicPartitions::default()
                .with_topic(topic("events"))
                .with_partitions(vec![0, 1]);
            let body =
                ElectLeadersRequest::default().with_topic_partitions(Some(vec![one.clone(), one]));
            frame(api_key, v, &body)
        }
        ApiKey::IncrementalAlterConfigs => {
            let config = incremental_alter_configs_request::AlterableConfig::default()
                .with_name(s("retention.ms"))
                .with_value(Some(s("1000")));
            let resource = incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("events"))
                .with_configs(vec![config.clone(), config]);
            let body = IncrementalAlterConfigsRequest::default().with_resources(vec![resource]);
            frame(api_key, v, &body)
        }
        ApiKey::OffsetDelete => {
            let partition = offset_delete_request::OffsetDeleteRequestPartition::default()
                .with_partition_index(0);
            let body = OffsetDeleteRequest::default()
                .with_group_id(group("grp"))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(topic("events"))
                        .with_partitions(vec![partition.clone(), partition]),
                ]);
            frame(api_key, v, &body)
        }
        ApiKey::DescribeCluster => {
            let body =
                DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
            frame(api_key, v, &body)
        }
        ApiKey::DescribeProducers => {
            let one = describe_producers_request::TopicRequest::default()
                .with_name(topic("events"))
                .with_partition_indexes(vec![0, 1]);
            let body = DescribeProducersRequest::default().with_topics(vec![one.clone(), one]);
            frame(api_key, v, &body)
        }
        other => panic!("{other:?} is served but this test has no request for it; add one"),
    }
}

/// Decodes `frame` the way the broker does: header, the version check
/// (dispatch refuses unsupported versions before decoding the body), then
/// the body as the API's message type.
fn decode_like_the_broker(frame: Bytes) -> Result<(), String> {
    let frame = decode_request_frame(frame).map_err(|e| e.to_string())?;
    if !is_supported(frame.api_key, frame.api_version()) {
        return Err("unsupported version".into());
    }
    decode_body(&frame).map_err(|e| e.to_string())
}

fn decode_body(frame: &RequestFrame) -> Result<(), CodecError> {
    match frame.api_key {
        ApiKey::Produce => frame.decode_body::<ProduceRequest>().map(drop),
        ApiKey::Fetch => frame.decode_body::<FetchRequest>().map(drop),
        ApiKey::ListOffsets => frame.decode_body::<ListOffsetsRequest>().map(drop),
        ApiKey::Metadata => frame.decode_body::<MetadataRequest>().map(drop),
        ApiKey::OffsetCommit => frame.decode_body::<OffsetCommitRequest>().map(drop),
        ApiKey::OffsetFetch => frame.decode_body::<OffsetFetchRequest>().map(drop),
        ApiKey::FindCoordinator => frame.decode_body::<FindCoordinatorRequest>().map(drop),
        ApiKey::JoinGroup => frame.decode_body::<JoinGroupRequest>().map(drop),
        ApiKey::Heartbeat => frame.decode_body::<HeartbeatRequest>().map(drop),
        ApiKey::LeaveGroup => frame.decode_body::<LeaveGroupRequest>().map(drop),
        ApiKey::SyncGroup => frame.decode_body::<SyncGroupRequest>().map(drop),
        ApiKey::DescribeGroups => frame.decode_body::<DescribeGroupsRequest>().map(drop),
        ApiKey::ListGroups => frame.decode_body::<ListGroupsRequest>().map(drop),
        ApiKey::ApiVersions => frame.decode_body::<ApiVersionsRequest>().map(drop),
        ApiKey::CreateTopics => frame.decode_body::<CreateTopicsRequest>().map(drop),
        ApiKey::DeleteTopics => frame.decode_body::<DeleteTopicsRequest>().map(drop),
        ApiKey::DeleteRecords => frame.decode_body::<DeleteRecordsRequest>().map(drop),
        ApiKey::InitProducerId => frame.decode_body::<InitProducerIdRequest>().map(drop),
        ApiKey::DescribeConfigs => frame.decode_body::<DescribeConfigsRequest>().map(drop),
        ApiKey::AlterConfigs => frame.decode_body::<AlterConfigsRequest>().map(drop),
        ApiKey::DescribeLogDirs => frame.decode_body::<DescribeLogDirsRequest>().map(drop),
        ApiKey::CreatePartitions => frame.decode_body::<CreatePartitionsRequest>().map(drop),
        ApiKey::DeleteGroups => frame.decode_body::<DeleteGroupsRequest>().map(drop),
        ApiKey::ElectLeaders => frame.decode_body::<ElectLeadersRequest>().map(drop),
        ApiKey::IncrementalAlterConfigs => frame
            .decode_body::<IncrementalAlterConfigsRequest>()
            .map(drop),
        ApiKey::OffsetDelete => frame.decode_body::<OffsetDeleteRequest>().map(drop),
        ApiKey::DescribeCluster => frame.decode_body::<DescribeClusterRequest>().map(drop),
        ApiKey::DescribeProducers => frame.decode_body::<DescribeProducersRequest>().map(drop),
        // Not served: dispatch closes the connection without decoding.
        _ => Ok(()),
    }
}

/// Every served (API, version) with its valid request.
fn every_served_request() -> Vec<(ApiKey, i16, Bytes)> {
    SUPPORTED_APIS
        .iter()
        .flat_map(|api| {
            (api.min_version..=api.max_version)
                .map(move |v| (api.api_key, v, valid_request(api.api_key, v)))
        })
        .collect()
}

#[test]
fn every_valid_request_decodes() {
    for (api_key, version, frame) in every_served_request() {
        if let Err(error) = decode_like_the_broker(frame) {
            panic!("{api_key:?} v{version}: the unmutated request fails: {error}");
        }
    }
}

#[test]
fn huge_counts_at_every_offset_of_every_request_are_refused_without_a_big_allocation() {
    let mut decoded = 0usize;
    let mut refused = 0usize;
    for (api_key, version, frame) in every_served_request() {
        for offset in 0..frame.len() {
            for huge in HUGE_COUNTS {
                let mut mutated = frame.to_vec();
                let end = (offset + huge.len()).min(mutated.len());
                mutated[offset..end].copy_from_slice(&huge[..end - offset]);
                let mutated = Bytes::from(mutated);
                let (result, largest) = largest_allocation(|| decode_like_the_broker(mutated));
                match result {
                    Ok(()) => decoded += 1,
                    Err(_) => refused += 1,
                }
                assert!(
                    largest < MAX_SINGLE_ALLOCATION_BYTES,
                    "{api_key:?} v{version} with {huge:02x?} at offset {offset}: \
                     an allocation of {largest} bytes"
                );
            }
        }
    }
    assert!(
        refused > 0 && decoded > 0,
        "{refused} refused, {decoded} decoded"
    );
}

/// The three requests that aborted the broker before the vendored patch.
#[test]
fn the_three_requests_that_aborted_the_broker_are_refused() {
    let cases: [(ApiKey, i16); 3] = [
        (ApiKey::Metadata, 1),
        (ApiKey::Produce, 3),
        (ApiKey::JoinGroup, 5),
    ];
    for (api_key, version) in cases {
        let frame = huge_first_array(api_key, version);
        let (result, largest) = largest_allocation(|| decode_like_the_broker(frame));
        assert!(
            result.is_err(),
            "{api_key:?} v{version} claiming 2^31-1 entries decoded"
        );
        assert!(largest < MAX_SINGLE_ALLOCATION_BYTES, "{largest} bytes");
    }
}

/// A request of `api_key`/`version` whose first array claims `i32::MAX`
/// entries, followed by 15 bytes: the shape of the reported crash.
fn huge_first_array(api_key: ApiKey, version: i16) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(s("crash")));
    // All three versions use the classic request header (v1).
    let mut buf = BytesMut::new();
    if let Err(error) = header.encode(&mut buf, 1) {
        panic!("header does not encode: {error}");
    }
    let mut bytes = buf.to_vec();
    match api_key {
        // transactional_id (null), acks, timeout_ms, then topic_data.
        ApiKey::Produce => bytes.extend_from_slice(&[0xff, 0xff, 0, 1, 0, 0, 0x03, 0xe8]),
        // group_id, session_timeout_ms, rebalance_timeout_ms, member_id,
        // group_instance_id (null), protocol_type, then protocols.
        ApiKey::JoinGroup => {
            bytes.extend_from_slice(&[0, 1, b'g', 0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10]);
            bytes.extend_from_slice(&[0, 0, 0xff, 0xff, 0, 1, b'c']);
        }
        _ => {}
    }
    bytes.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
    bytes.extend_from_slice(&[0u8; 15]);
    Bytes::from(bytes)
}

/// Every version of the consumer protocol's embedded subscription (which the
/// broker decodes from JoinGroup metadata) and assignment, with non-empty
/// arrays and bytes.
fn embedded_consumer_protocol() -> Vec<(&'static str, i16, Bytes)> {
    let mut out = Vec::new();
    for version in 0..=3 {
        let mut subscription = ConsumerProtocolSubscription::default()
            .with_topics(vec![s("events"), s("audit")])
            .with_user_data(Some(Bytes::from_static(b"user data")));
        if version >= 1 {
            subscription = subscription.with_owned_partitions(vec![
                consumer_protocol_subscription::TopicPartition::default()
                    .with_topic(topic("events"))
                    .with_partitions(vec![0, 1]),
            ]);
        }
        if version >= 2 {
            subscription = subscription.with_generation_id(3);
        }
        if version >= 3 {
            subscription = subscription.with_rack_id(Some(s("rack-a")));
        }
        let assignment = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(vec![
                consumer_protocol_assignment::TopicPartition::default()
                    .with_topic(topic("events"))
                    .with_partitions(vec![0, 1]),
            ])
            .with_user_data(Some(Bytes::from_static(b"user data")));
        for (what, encoded) in [
            ("subscription", encode_embedded(&subscription, version)),
            ("assignment", encode_embedded(&assignment, version)),
        ] {
            out.push((what, version, encoded));
        }
    }
    out
}

fn encode_embedded<M: Encodable>(message: &M, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    if let Err(error) = message.encode(&mut buf, version) {
        panic!("embedded v{version} does not encode: {error}");
    }
    buf.freeze()
}

fn decode_embedded(what: &str, version: i16, mut bytes: Bytes) -> bool {
    use kafka_protocol::protocol::Decodable;
    match what {
        "subscription" => ConsumerProtocolSubscription::decode(&mut bytes, version).is_ok(),
        _ => ConsumerProtocolAssignment::decode(&mut bytes, version).is_ok(),
    }
}

#[test]
fn huge_counts_in_the_embedded_consumer_protocol_are_refused_without_a_big_allocation() {
    for (what, version, encoded) in embedded_consumer_protocol() {
        assert!(
            decode_embedded(what, version, encoded.clone()),
            "{what} v{version}"
        );
        for offset in 0..encoded.len() {
            for huge in HUGE_COUNTS {
                let mut mutated = encoded.to_vec();
                let end = (offset + huge.len()).min(mutated.len());
                mutated[offset..end].copy_from_slice(&huge[..end - offset]);
                let mutated = Bytes::from(mutated);
                let (_, largest) = largest_allocation(|| decode_embedded(what, version, mutated));
                assert!(
                    largest < MAX_SINGLE_ALLOCATION_BYTES,
                    "{what} v{version} with {huge:02x?} at offset {offset}: {largest} bytes"
                );
            }
        }
    }
}
