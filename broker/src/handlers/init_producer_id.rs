//! InitProducerId: hand out producer ids for idempotent producers.
//!
//! Without a transactional id Kafka always allocates a fresh producer id with
//! epoch 0 (also when the client asks to bump an existing one), and so do we.
//! Transactions are not supported: a transactional id is refused.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use sluice_protocol::ErrorCode;

use crate::dispatch::RequestContext;

/// Answers an InitProducerId request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let failed = |code: ErrorCode| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if request.transactional_id.is_some() {
        return failed(ErrorCode::TransactionalIdAuthorizationFailed);
    }
    match ctx.broker.allocate_producer_id() {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(code) => failed(code),
    }
}
