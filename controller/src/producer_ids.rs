//! AllocateProducerIds (KIP-730): blocks of producer ids for brokers.

use sluice_protocol::ErrorCode;

use crate::image::MetadataImage;
use crate::messages::{AllocateProducerIdsRequest, AllocateProducerIdsResponse, Decision};
use crate::records::{BrokerEpochRef, MetadataRecord, ProducerIdsRecord};
use crate::state::ControllerState;

impl ControllerState {
    /// Hands the next `producer.id.block.size` ids to a registered broker.
    /// Blocks never overlap: each starts where the last ended.
    pub fn allocate_producer_ids(
        &self,
        image: &MetadataImage,
        request: &AllocateProducerIdsRequest,
    ) -> Decision<AllocateProducerIdsResponse> {
        let refused = |error| Decision {
            records: Vec::new(),
            response: AllocateProducerIdsResponse {
                error,
                first_producer_id: -1,
                block_size: 0,
            },
        };
        match image.broker(request.broker_id) {
            None => return refused(ErrorCode::BrokerIdNotRegistered),
            Some(b) if b.broker_epoch != request.broker_epoch => {
                return refused(ErrorCode::StaleBrokerEpoch);
            }
            Some(_) => {}
        }
        let first_producer_id = image.next_producer_id();
        let block_size = self.config.producer_id_block_size;
        if block_size <= 0 || first_producer_id.checked_add(block_size).is_none() {
            tracing::error!(first_producer_id, block_size, "producer ids exhausted");
            return refused(ErrorCode::UnknownServerError);
        }
        Decision {
            records: vec![MetadataRecord::ProducerIds(ProducerIdsRecord {
                broker: BrokerEpochRef {
                    broker_id: request.broker_id,
                    broker_epoch: request.broker_epoch,
                },
                first_producer_id,
                block_size,
            })],
            response: AllocateProducerIdsResponse {
                error: ErrorCode::None,
                first_producer_id,
                block_size,
            },
        }
    }
}
