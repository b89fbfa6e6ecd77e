//! The client against a scripted mock broker: negotiation, bootstrap,
//! routing retries, reconnects and timeouts.
#![allow(clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::list_groups_response::ListedGroup as WireListedGroup;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, CreateTopicsRequest, CreateTopicsResponse,
    DescribeGroupsResponse, FindCoordinatorResponse, GroupId, ListGroupsRequest,
    ListGroupsResponse, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use sluice_client::{Admin, Client, ClientError, Connection, NewTopic, OffsetSpec};
use sluice_protocol::ErrorCode;
use support::{MockBroker, Received, Reply, api_versions, bounded, metadata, test_config};

/// ListOffsets answer with `offset` (or `error`) for every partition asked.
fn list_offsets(request: &Received, offset: i64, error: ErrorCode) -> Reply {
    let asked: ListOffsetsRequest = request.decode();
    let topics = asked
        .topics
        .iter()
        .map(|t| {
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartitionResponse::default()
                                .with_partition_index(p.partition_index)
                                .with_offset(offset)
                                .with_error_code(error.code())
                        })
                        .collect(),
                )
        })
        .collect();
    request.respond(&ListOffsetsResponse::default().with_topics(topics))
}

/// A mock with ApiVersions and Metadata (topic `t`, 2 partitions) scripted and
/// everything else delegated to `rest`.
async fn mock(rest: impl Fn(&Received, i32) -> Reply + Send + Sync + 'static) -> MockBroker {
    let port = Arc::new(AtomicUsize::new(0));
    let port_in_handler = port.clone();
    let broker = MockBroker::start(move |request| {
        let port = i32::try_from(port_in_handler.load(Ordering::SeqCst)).expect("port fits");
        match request.api_key() {
            ApiKey::ApiVersions => api_versions(request, &[]),
            ApiKey::Metadata => metadata(request, port, &[("t", 2)]),
            _ => rest(request, port),
        }
    })
    .await;
    port.store(
        usize::try_from(broker.port).expect("port"),
        Ordering::SeqCst,
    );
    broker
}

#[tokio::test]
async fn negotiates_the_highest_common_version() {
    let broker = MockBroker::start(|request| match request.api_key() {
        ApiKey::ApiVersions => api_versions(request, &[(ApiKey::Metadata, 0, 9)]),
        _ => metadata(request, 0, &[]),
    })
    .await;
    bounded(Client::connect(test_config(&broker.address)))
        .await
        .expect("bootstrap");
    assert_eq!(broker.versions(ApiKey::ApiVersions), vec![3]);
    assert_eq!(broker.versions(ApiKey::Metadata), vec![9]);
}

#[tokio::test]
async fn unknown_api_versions_version_falls_back_to_an_older_one() {
    let broker = MockBroker::start(|request| match request.api_key() {
        ApiKey::ApiVersions if request.header.request_api_version == 3 => {
            // Kafka answers an ApiVersions version it does not know in v0 form.
            let ours = kafka_protocol::messages::api_versions_response::ApiVersion::default()
                .with_api_key(ApiKey::ApiVersions as i16)
                .with_max_version(2);
            let refusal = ApiVersionsResponse::default()
                .with_error_code(ErrorCode::UnsupportedVersion.code())
                .with_api_keys(vec![ours]);
            request.respond_at(&refusal, 0)
        }
        ApiKey::ApiVersions => api_versions(request, &[(ApiKey::ApiVersions, 0, 2)]),
        _ => metadata(request, 0, &[]),
    })
    .await;
    bounded(Client::connect(test_config(&broker.address)))
        .await
        .expect("bootstrap after fallback");
    let versions = broker.versions(ApiKey::ApiVersions);
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0], 3);
    assert!(versions[1] < 3);
}

#[tokio::test]
async fn requests_to_one_broker_share_one_connection() {
    let broker = mock(|request, _| list_offsets(request, 1, ErrorCode::None)).await;
    let admin = bounded(Admin::connect(test_config(&broker.address)))
        .await
        .expect("connect");
    for spec in [
        OffsetSpec::Earliest,
        OffsetSpec::Latest,
        OffsetSpec::Timestamp(0),
    ] {
        bounded(admin.list_offsets(&[("t".to_owned(), 0), ("t".to_owned(), 1)], spec))
            .await
            .expect("listed");
    }
    assert_eq!(broker.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn api_without_common_version_fails_clearly() {
    let broker = MockBroker::start(|request| match request.api_key() {
        ApiKey::ApiVersions => api_versions(request, &[(ApiKey::CreateTopics, 8, 9)]),
        _ => metadata(request, 0, &[]),
    })
    .await;
    let connection = bounded(Connection::connect(
        &broker.address,
        &test_config(&broker.address),
    ))
    .await
    .expect("connect");
    let error = connection
        .send(&CreateTopicsRequest::default())
        .await
        .expect_err("no common version");
    assert!(
        matches!(
            error,
            ClientError::UnsupportedVersion {
                api: "CreateTopics",
                broker: Some((8, 9)),
                client: Some((2, 7)),
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn api_the_broker_does_not_offer_is_named_in_the_error() {
    let broker = MockBroker::start(|request| match request.api_key() {
        ApiKey::ApiVersions => api_versions(request, &[(ApiKey::FindCoordinator, 1, 0)]),
        _ => metadata(request, 0, &[]),
    })
    .await;
    let connection = bounded(Connection::connect(
        &broker.address,
        &test_config(&broker.address),
    ))
    .await
    .expect("connect");
    let error = connection
        .version::<kafka_protocol::messages::FindCoordinatorRequest>()
        .expect_err("empty broker range");
    assert!(
        error
            .to_string()
            .contains("no common FindCoordinator version"),
        "{error}"
    );
}

#[tokio::test]
async fn bootstrap_skips_an_unreachable_server() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let broker = mock(|_, _| Reply::Close).await;
    let bootstrap = format!("127.0.0.1:{closed_port},{}", broker.address);
    let client = bounded(Client::connect(test_config(&bootstrap)))
        .await
        .expect("second server answers");
    assert_eq!(client.with_metadata(|cache| cache.brokers().count()), 1);
}

#[tokio::test]
async fn bootstrap_with_no_reachable_server_fails() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let error = bounded(Client::connect(test_config(&format!(
        "127.0.0.1:{closed_port}"
    ))))
    .await
    .expect_err("nobody listens");
    assert!(
        matches!(error, ClientError::BootstrapFailed { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn create_topics_reports_each_topic() {
    let broker = mock(|request, _| {
        let asked: CreateTopicsRequest = request.decode();
        let topics = asked
            .topics
            .iter()
            .map(|t| {
                let exists = t.name.0.as_str() == "old";
                CreatableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_num_partitions(t.num_partitions)
                    .with_replication_factor(t.replication_factor)
                    .with_error_code(if exists {
                        ErrorCode::TopicAlreadyExists.code()
                    } else {
                        0
                    })
            })
            .collect();
        request.respond(&CreateTopicsResponse::default().with_topics(topics))
    })
    .await;
    let admin = bounded(Admin::connect(test_config(&broker.address)))
        .await
        .expect("connect");
    let created = bounded(admin.create_topics(
        &[NewTopic::new("new", 3, 1), NewTopic::new("old", 1, 1)],
        false,
    ))
    .await
    .expect("request succeeds");
    assert_eq!(created.len(), 2);
    assert_eq!(
        (
            created[0].name.as_str(),
            created[0].partitions,
            created[0].error.as_ref()
        ),
        ("new", 3, None)
    );
    assert_eq!(
        created[1].error.as_ref().map(|e| e.code),
        Some(ErrorCode::TopicAlreadyExists)
    );
}

#[tokio::test]
async fn not_leader_error_refreshes_metadata_and_retries() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    let broker = mock(move |request, _| {
        let error = if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            ErrorCode::NotLeaderOrFollower
        } else {
            ErrorCode::None
        };
        list_offsets(request, 42, error)
    })
    .await;
    let admin = bounded(Admin::connect(test_config(&broker.address)))
        .await
        .expect("connect");
    let metadata_before = broker.count(ApiKey::Metadata);
    let offsets = bounded(admin.list_offsets(&[("t".to_owned(), 0)], OffsetSpec::Latest))
        .await
        .expect("listed");
    assert_eq!(
        offsets.first().map(|o| (o.offset, o.error.clone())),
        Some((42, None))
    );
    assert_eq!(broker.count(ApiKey::ListOffsets), 2);
    assert_eq!(
        broker.count(ApiKey::Metadata),
        metadata_before + 1,
        "one refresh after NOT_LEADER_OR_FOLLOWER"
    );
}

#[tokio::test]
async fn send_to_leader_retries_after_not_leader() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    let broker = mock(move |request, _| {
        let error = if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            ErrorCode::NotLeaderOrFollower
        } else {
            ErrorCode::None
        };
        list_offsets(request, 7, error)
    })
    .await;
    let client = bounded(Client::connect(test_config(&broker.address)))
        .await
        .expect("connect");
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            kafka_protocol::messages::list_offsets_request::ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![
                    kafka_protocol::messages::list_offsets_request::ListOffsetsPartition::default(),
                ]),
        ]);
    let response = bounded(client.send_to_leader("t", 0, &request))
        .await
        .expect("answered");
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn dropped_connection_is_reopened_and_the_request_retried() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    let broker = mock(move |request, _| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::Close
        } else {
            list_offsets(request, 5, ErrorCode::None)
        }
    })
    .await;
    let admin = bounded(Admin::connect(test_config(&broker.address)))
        .await
        .expect("connect");
    let offsets = bounded(admin.list_offsets(&[("t".to_owned(), 1)], OffsetSpec::Earliest))
        .await
        .expect("listed");
    assert_eq!(offsets.first().map(|o| o.offset), Some(5));
    assert_eq!(broker.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn silent_broker_times_out_and_the_connection_closes() {
    let broker = mock(|_, _| Reply::Silence).await;
    let config = sluice_client::ClientConfig {
        request_timeout_ms: 200,
        ..test_config(&broker.address)
    };
    let connection = bounded(Connection::connect(&broker.address, &config))
        .await
        .expect("connect");
    let error = bounded(connection.send(&ListGroupsRequest::default()))
        .await
        .expect_err("no answer");
    assert!(
        matches!(
            error,
            ClientError::RequestTimeout {
                api: "ListGroups",
                ..
            }
        ),
        "{error}"
    );
    assert!(connection.is_closed());
}

#[tokio::test]
async fn operation_gives_up_at_its_deadline() {
    let broker = mock(|_, _| Reply::Silence).await;
    let config = sluice_client::ClientConfig {
        request_timeout_ms: 100,
        default_api_timeout_ms: 400,
        ..test_config(&broker.address)
    };
    let client = bounded(Client::connect(config)).await.expect("connect");
    let error = bounded(client.send_to_any(&ListGroupsRequest::default()))
        .await
        .expect_err("never answered");
    assert!(
        matches!(error, ClientError::OperationTimeout { .. }),
        "{error}"
    );
    assert!(
        broker.count(ApiKey::ListGroups) >= 2,
        "retried before giving up"
    );
}

#[tokio::test]
async fn pipelined_requests_each_get_their_own_response() {
    let broker = mock(|request, _| {
        let group = GroupId(StrBytes::from_string(
            request.header.correlation_id.to_string(),
        ));
        request.respond(
            &ListGroupsResponse::default()
                .with_groups(vec![WireListedGroup::default().with_group_id(group)]),
        )
    })
    .await;
    let connection = bounded(Connection::connect(
        &broker.address,
        &test_config(&broker.address),
    ))
    .await
    .expect("connect");
    let request = ListGroupsRequest::default();
    let requests = (0..20).map(|_| connection.send(&request));
    let responses = bounded(futures::future::join_all(requests)).await;
    let mut ids: Vec<String> = responses
        .into_iter()
        .map(|response| response.expect("answered").groups[0].group_id.0.to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
}

#[tokio::test]
async fn request_without_response_does_not_block_the_next_one() {
    let broker = mock(|request, _| match request.api_key() {
        ApiKey::Produce => Reply::Silence,
        _ => request.respond(&ListGroupsResponse::default()),
    })
    .await;
    let connection = bounded(Connection::connect(
        &broker.address,
        &test_config(&broker.address),
    ))
    .await
    .expect("connect");
    bounded(connection.send_without_response(&ProduceRequest::default().with_acks(0)))
        .await
        .expect("written");
    bounded(connection.send(&ListGroupsRequest::default()))
        .await
        .expect("next request answered");
    assert_eq!(broker.count(ApiKey::Produce), 1);
}

#[tokio::test]
async fn moved_coordinator_is_found_again() {
    let describes = Arc::new(AtomicUsize::new(0));
    let seen = describes.clone();
    let broker = mock(move |request, port| match request.api_key() {
        ApiKey::FindCoordinator => {
            let host = StrBytes::from_static_str("127.0.0.1");
            let response = if request.header.request_api_version >= 4 {
                FindCoordinatorResponse::default().with_coordinators(vec![
                    kafka_protocol::messages::find_coordinator_response::Coordinator::default()
                        .with_key(StrBytes::from_static_str("g"))
                        .with_node_id(BrokerId(1))
                        .with_host(host)
                        .with_port(port),
                ])
            } else {
                FindCoordinatorResponse::default()
                    .with_node_id(BrokerId(1))
                    .with_host(host)
                    .with_port(port)
            };
            request.respond(&response)
        }
        _ => {
            let error = if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                ErrorCode::NotCoordinator
            } else {
                ErrorCode::None
            };
            request.respond(&DescribeGroupsResponse::default().with_groups(vec![
                DescribedGroup::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("g")))
                    .with_group_state(StrBytes::from_static_str("Empty"))
                    .with_error_code(error.code()),
            ]))
        }
    })
    .await;
    let admin = bounded(Admin::connect(test_config(&broker.address)))
        .await
        .expect("connect");
    let groups = bounded(admin.describe_groups(&["g".to_owned()]))
        .await
        .expect("described");
    assert_eq!(
        groups
            .first()
            .map(|g| (g.state.as_str(), g.error.is_none())),
        Some(("Empty", true))
    );
    assert_eq!(broker.count(ApiKey::FindCoordinator), 2);
}

#[tokio::test]
async fn connection_idle_past_the_limit_is_replaced() {
    let broker = mock(|request, _| list_offsets(request, 1, ErrorCode::None)).await;
    let config = sluice_client::ClientConfig {
        connections_max_idle_ms: 0,
        ..test_config(&broker.address)
    };
    let admin = bounded(Admin::connect(config)).await.expect("connect");
    bounded(admin.list_offsets(&[("t".to_owned(), 0)], OffsetSpec::Latest))
        .await
        .expect("listed");
    assert!(broker.connections.load(Ordering::SeqCst) > 1);
}
