//! Sluice's cluster controller (issue 18, first steps).
//!
//! (The crate map is written out at the end of this work; see below.)
#![deny(missing_docs)]

mod codec;
mod error;
mod image;
mod records;

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod image_tests;
#[cfg(test)]
mod testing;

pub use codec::{CodecError, RECORD_FORMAT_VERSION, decode_batch, encode_batch};
pub use error::ApplyError;
pub use image::{BrokerRegistration, MetadataImage, PartitionState, TopicImage};
pub use records::{
    BrokerEndpoint, BrokerEpochRef, BrokerId, ConfigRecord, ConfigResource, MetadataRecord,
    NO_LEADER, PartitionChangeRecord, PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord,
    TopicRecord,
};
