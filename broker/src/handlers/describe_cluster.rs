//! DescribeCluster: the cluster id, the controller (this node) and the brokers.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{AUTHORIZED_OPERATIONS_OMITTED, host_and_port, str_bytes};
use crate::dispatch::RequestContext;

/// Answers a DescribeCluster request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let broker = ctx.broker;
    let (host, port) = host_and_port(broker.config().advertised_address());
    DescribeClusterResponse::default()
        .with_endpoint_type(if ctx.version() >= 1 {
            request.endpoint_type
        } else {
            1
        })
        .with_cluster_id(str_bytes(broker.cluster_id()))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_brokers(vec![
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(broker.node_id()))
                .with_host(str_bytes(&host))
                .with_port(port),
        ])
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}
