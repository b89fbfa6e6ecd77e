//! FindCoordinator: this node coordinates every group. Transactions are not
//! supported: a transaction coordinator is refused with a non-retriable
//! error, so a transactional producer fails at once with a clear message
//! instead of retrying COORDINATOR_NOT_AVAILABLE until its timeout.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use sluice_protocol::ErrorCode;

use super::{host_and_port, str_bytes};
use crate::dispatch::RequestContext;

/// `key_type` of a consumer group.
const GROUP_KEY_TYPE: i8 = 0;

/// `key_type` of a transactional id.
const TRANSACTION_KEY_TYPE: i8 = 1;

/// Why a transaction coordinator is refused.
const NO_TRANSACTIONS: &str = "transactions are not supported by this broker";

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
    let (error, message) = match request.key_type {
        GROUP_KEY_TYPE => (ErrorCode::None, None),
        // As InitProducerId refuses a transactional id.
        TRANSACTION_KEY_TYPE => (
            ErrorCode::TransactionalIdAuthorizationFailed,
            Some(NO_TRANSACTIONS),
        ),
        _ => (
            ErrorCode::InvalidRequest,
            Some("unknown coordinator key type"),
        ),
    };
    let message = message.map(str_bytes);
    if ctx.version() >= BATCHED_VERSION {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key: StrBytes| {
                let coordinator = Coordinator::default()
                    .with_key(key)
                    .with_error_code(error.code())
                    .with_error_message(message.clone());
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
    let response = FindCoordinatorResponse::default()
        .with_error_code(error.code())
        .with_error_message(message);
    if error == ErrorCode::None {
        response
            .with_node_id(node)
            .with_host(str_bytes(&host))
            .with_port(port)
    } else {
        response.with_node_id(BrokerId(-1)).with_port(-1)
    }
}
