//! `request`: a request frame decoded exactly as the broker's dispatch does
//! it: the header, ApiVersions through its own handler, the version check
//! against the served table, then `RequestFrame::decode_body` with the
//! message type of every API dispatch serves. A Produce's records then go
//! through the broker's `validate_records`, as its handler does.
//!
//! Dispatch itself needs a running broker, so the match below mirrors
//! `sluice_broker::dispatch`; `every_served_api_is_decoded` keeps the two
//! lists equal.

use bytes::Bytes;
use kafka_protocol::messages::*;
use sluice_broker::{BrokerConfig, handlers, validate_records};
use sluice_protocol::{CodecError, RequestFrame, decode_request_frame, is_supported};

use super::{Target, outcome, request_seeds};

/// See the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct RequestTarget;

impl Target for RequestTarget {
    fn seeds(&self) -> Vec<Vec<u8>> {
        request_seeds::all_requests()
            .into_iter()
            .map(|frame| frame.to_vec())
            .collect()
    }

    fn run(&mut self, input: &[u8]) -> String {
        run_request(input)
    }

    fn label(&self, input: &[u8]) -> String {
        api_label(input)
    }
}

/// The API a frame names, or `unknown`.
pub(crate) fn api_label(frame: &[u8]) -> String {
    let [high, low, ..] = *frame else {
        return "short".to_owned();
    };
    match ApiKey::try_from(i16::from_be_bytes([high, low])) {
        Ok(key) => format!("{key:?}"),
        Err(()) => "unknown api".to_owned(),
    }
}

/// Decodes one request frame (without its length prefix) as the broker does.
pub(crate) fn run_request(input: &[u8]) -> String {
    let frame = match decode_request_frame(Bytes::copy_from_slice(input)) {
        Ok(frame) => frame,
        Err(error) => return outcome(&Err::<(), _>(error)),
    };
    if frame.api_key == ApiKey::ApiVersions {
        return format!(
            "ApiVersions {}",
            outcome(&handlers::api_versions::handle(&frame, true))
        );
    }
    if !is_supported(frame.api_key, frame.api_version()) {
        return "unsupported version".to_owned();
    }
    format!("{:?} {}", frame.api_key, decode_served(&frame))
}

/// Decodes `$frame`'s body as the message type of its API.
macro_rules! decode_as {
    ($frame:expr, $( $key:ident => $ty:ty ),* $(,)?) => {
        match $frame.api_key {
            $( ApiKey::$key => $frame.decode_body::<$ty>().map(drop), )*
            other => return format!("not served {other:?}"),
        }
    };
}

/// The APIs dispatch serves (besides ApiVersions), with their request types.
macro_rules! served_apis {
    ($callback:ident, $frame:expr) => {
        $callback!($frame,
            Fetch => FetchRequest,
            ListOffsets => ListOffsetsRequest,
            Metadata => MetadataRequest,
            CreateTopics => CreateTopicsRequest,
            DeleteTopics => DeleteTopicsRequest,
            CreatePartitions => CreatePartitionsRequest,
            DeleteRecords => DeleteRecordsRequest,
            InitProducerId => InitProducerIdRequest,
            DescribeConfigs => DescribeConfigsRequest,
            AlterConfigs => AlterConfigsRequest,
            IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
            DescribeLogDirs => DescribeLogDirsRequest,
            ElectLeaders => ElectLeadersRequest,
            DescribeCluster => DescribeClusterRequest,
            DescribeProducers => DescribeProducersRequest,
            DescribeQuorum => DescribeQuorumRequest,
            FindCoordinator => FindCoordinatorRequest,
            JoinGroup => JoinGroupRequest,
            SyncGroup => SyncGroupRequest,
            Heartbeat => HeartbeatRequest,
            LeaveGroup => LeaveGroupRequest,
            ListGroups => ListGroupsRequest,
            DescribeGroups => DescribeGroupsRequest,
            DeleteGroups => DeleteGroupsRequest,
            OffsetCommit => OffsetCommitRequest,
            OffsetFetch => OffsetFetchRequest,
            OffsetDelete => OffsetDeleteRequest,
        )
    };
}

fn decode_served(frame: &RequestFrame) -> String {
    if frame.api_key == ApiKey::Produce {
        return decode_produce(frame);
    }
    let result: Result<(), CodecError> = served_apis!(decode_as, frame);
    outcome(&result)
}

/// A Produce body, then each partition's records through the validator
/// with the broker's default limits.
fn decode_produce(frame: &RequestFrame) -> String {
    let request = match frame.decode_body::<ProduceRequest>() {
        Ok(request) => request,
        Err(error) => return outcome(&Err::<(), _>(error)),
    };
    let config = BrokerConfig::default();
    let max_batch_bytes = usize::try_from(config.log.max_message_bytes).unwrap_or(usize::MAX);
    let mut outcomes = Vec::new();
    for topic in &request.topic_data {
        for partition in &topic.partition_data {
            let Some(records) = &partition.records else {
                outcomes.push("null records".to_owned());
                continue;
            };
            let result =
                validate_records(records, max_batch_bytes, config.socket_request_max_bytes);
            outcomes.push(match result {
                Ok(_) => "ok".to_owned(),
                Err(code) => format!("{code:?}"),
            });
        }
    }
    outcomes.sort();
    outcomes.dedup();
    outcomes.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::SUPPORTED_APIS;

    /// The frame of a request for `key` at its lowest served version with
    /// an empty body: any error but "not served" means dispatch's match
    /// arm exists here too.
    #[test]
    fn every_served_api_is_decoded() {
        for api in SUPPORTED_APIS {
            let mut frame = Vec::new();
            frame.extend_from_slice(&(api.api_key as i16).to_be_bytes());
            frame.extend_from_slice(&api.min_version.to_be_bytes());
            frame.extend_from_slice(&[0, 0, 0, 1, 0xff, 0xff, 0]);
            let outcome = run_request(&frame);
            assert!(
                !outcome.contains("not served"),
                "{:?}: {outcome}",
                api.api_key
            );
        }
    }

    #[test]
    fn every_seed_decodes() {
        for seed in RequestTarget.seeds() {
            let outcome = run_request(&seed);
            assert!(outcome.ends_with(" ok"), "{}: {outcome}", api_label(&seed));
        }
    }
}
