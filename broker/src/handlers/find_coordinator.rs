//! FindCoordinator: this node coordinates every group (and would every
//! transaction, but transactions are not supported).

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use sluice_protocol::ErrorCode;

use super::{host_and_port, str_bytes};
use crate::dispatch::RequestContext;

/// `key_type` of a consumer group.
const GROUP_KEY_TYPE: i8 = 0;

/// The first version that batches keys (KIP-699).
const BATCHED_VERSION: i16 = 4;

/// Answers a FindCoordinator request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let broker = ctx.broker;
    let (host, port) = host_and_port(broker.config().advertised_address());
    let node = BrokerId(broker.node_id());
    let error = if request.key_type == GROUP_KEY_TYPE {
        ErrorCode::None
    } else {
        ErrorCode::CoordinatorNotAvailable
    };
    if ctx.version() >= BATCHED_VERSION {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key: StrBytes| {
                let coordinator = Coordinator::default()
                    .with_key(key)
                    .with_error_code(error.code());
                if error == ErrorCode::None {
                    coordinator
                        .with_node_id(node)
                        .with_host(str_bytes(&host))
                        .with_port(port)
                } else {
                    coordinator.with_node_id(BrokerId(-1)).with_port(-1)
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let response = FindCoordinatorResponse::default().with_error_code(error.code());
    if error == ErrorCode::None {
        response
            .with_node_id(node)
            .with_host(str_bytes(&host))
            .with_port(port)
    } else {
        response.with_node_id(BrokerId(-1)).with_port(-1)
    }
}
