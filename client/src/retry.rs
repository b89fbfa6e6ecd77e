//! What to do after an error: give up, refresh metadata and retry, find the
//! group coordinator again and retry, or just wait and retry. Pure decisions,
//! so the routing layer stays a thin loop around them.

use kafka_protocol::messages::{
    CreatePartitionsResponse, CreateTopicsResponse, DeleteGroupsResponse, DeleteTopicsResponse,
    DescribeConfigsResponse, DescribeGroupsResponse, FetchResponse, HeartbeatResponse,
    IncrementalAlterConfigsResponse, InitProducerIdResponse, JoinGroupResponse, LeaveGroupResponse,
    ListGroupsResponse, ListOffsetsResponse, MetadataResponse, OffsetCommitResponse,
    OffsetFetchResponse, ProduceResponse, SyncGroupResponse,
};
use sluice_protocol::ErrorCode;

use crate::error::ClientError;

/// The routing layer's next step after a response or failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RetryAction {
    /// Hand the result to the caller (success or a non-retriable error).
    Done,
    /// Wait for the backoff and send again to the same target.
    Backoff,
    /// The group coordinator moved or is not ready: forget it, back off, find it again.
    RediscoverCoordinator,
    /// The partition leader (or the topic) changed: refresh metadata, back off, re-route.
    RefreshMetadata,
}

/// The action a Kafka error code calls for.
pub fn action_for_code(code: ErrorCode) -> RetryAction {
    match code {
        ErrorCode::NotLeaderOrFollower
        | ErrorCode::UnknownTopicOrPartition
        | ErrorCode::LeaderNotAvailable
        | ErrorCode::FencedLeaderEpoch
        | ErrorCode::UnknownLeaderEpoch
        | ErrorCode::NotController
        | ErrorCode::KafkaStorageError
        | ErrorCode::ReplicaNotAvailable
        | ErrorCode::UnknownTopicId
        | ErrorCode::InconsistentTopicId => RetryAction::RefreshMetadata,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
            RetryAction::RediscoverCoordinator
        }
        code if code.is_retriable() => RetryAction::Backoff,
        _ => RetryAction::Done,
    }
}

/// The action a client-side failure calls for: a broken or silent connection
/// may mean the broker is gone, so routing is looked up again.
pub fn action_for_error(error: &ClientError) -> RetryAction {
    match error {
        ClientError::Connect { .. }
        | ClientError::Disconnected { .. }
        | ClientError::RequestTimeout { .. }
        | ClientError::UnknownPartition { .. }
        | ClientError::UnknownBroker(_) => RetryAction::RefreshMetadata,
        ClientError::Broker { code, .. } => action_for_code(*code),
        _ => RetryAction::Done,
    }
}

/// The strongest action over several codes (a refresh also covers a plain retry).
pub fn action_for_codes(codes: impl IntoIterator<Item = ErrorCode>) -> RetryAction {
    codes
        .into_iter()
        .map(action_for_code)
        .max()
        .unwrap_or(RetryAction::Done)
}

/// Responses whose error codes the routing layer inspects to decide on a retry.
pub trait ResponseErrors {
    /// Every error code in the response, top-level and per resource (zeros included).
    fn error_codes(&self) -> Vec<ErrorCode>;
}

fn codes(raw: impl IntoIterator<Item = i16>) -> Vec<ErrorCode> {
    raw.into_iter().map(ErrorCode::from_code).collect()
}

/// Keeps only the codes that mean "wrong broker": for admin requests every
/// other per-resource error (UNKNOWN_TOPIC_OR_PARTITION on delete,
/// TOPIC_ALREADY_EXISTS, ...) is the answer, not a reason to retry.
fn routing_only(codes: Vec<ErrorCode>) -> Vec<ErrorCode> {
    codes
        .into_iter()
        .filter(|code| *code == ErrorCode::NotController)
        .collect()
}

macro_rules! top_level_error {
    ($($response:ty),*) => {$(
        impl ResponseErrors for $response {
            fn error_codes(&self) -> Vec<ErrorCode> {
                codes([self.error_code])
            }
        }
    )*};
}

top_level_error!(
    HeartbeatResponse,
    InitProducerIdResponse,
    JoinGroupResponse,
    SyncGroupResponse,
    ListGroupsResponse
);

impl ResponseErrors for LeaveGroupResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        codes(std::iter::once(self.error_code).chain(self.members.iter().map(|m| m.error_code)))
    }
}

impl ResponseErrors for MetadataResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        // Topic errors in metadata describe the topic, not the request route.
        codes([self.error_code])
    }
}

impl ResponseErrors for ProduceResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        codes(
            self.responses
                .iter()
                .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code)),
        )
    }
}

impl ResponseErrors for FetchResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        let partitions = self
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code));
        codes(std::iter::once(self.error_code).chain(partitions))
    }
}

impl ResponseErrors for ListOffsetsResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        codes(
            self.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        )
    }
}

impl ResponseErrors for OffsetCommitResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        codes(
            self.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        )
    }
}

impl ResponseErrors for OffsetFetchResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        let partitions = self
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code));
        let groups = self.groups.iter().map(|g| g.error_code);
        codes(
            std::iter::once(self.error_code)
                .chain(partitions)
                .chain(groups),
        )
    }
}

impl ResponseErrors for DescribeGroupsResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        codes(self.groups.iter().map(|g| g.error_code))
    }
}

impl ResponseErrors for DeleteGroupsResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        codes(self.results.iter().map(|g| g.error_code))
    }
}

impl ResponseErrors for CreateTopicsResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        routing_only(codes(self.topics.iter().map(|t| t.error_code)))
    }
}

impl ResponseErrors for DeleteTopicsResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        routing_only(codes(self.responses.iter().map(|t| t.error_code)))
    }
}

impl ResponseErrors for CreatePartitionsResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        routing_only(codes(self.results.iter().map(|t| t.error_code)))
    }
}

impl ResponseErrors for DescribeConfigsResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        routing_only(codes(self.results.iter().map(|r| r.error_code)))
    }
}

impl ResponseErrors for IncrementalAlterConfigsResponse {
    fn error_codes(&self) -> Vec<ErrorCode> {
        routing_only(codes(self.responses.iter().map(|r| r.error_code)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadership_errors_refresh_metadata() {
        assert_eq!(
            action_for_code(ErrorCode::NotLeaderOrFollower),
            RetryAction::RefreshMetadata
        );
        assert_eq!(
            action_for_code(ErrorCode::UnknownTopicOrPartition),
            RetryAction::RefreshMetadata
        );
    }

    #[test]
    fn coordinator_errors_rediscover_the_coordinator() {
        assert_eq!(
            action_for_code(ErrorCode::NotCoordinator),
            RetryAction::RediscoverCoordinator
        );
        assert_eq!(
            action_for_code(ErrorCode::CoordinatorLoadInProgress),
            RetryAction::Backoff
        );
    }

    #[test]
    fn non_retriable_errors_and_success_are_done() {
        assert_eq!(action_for_code(ErrorCode::None), RetryAction::Done);
        assert_eq!(
            action_for_code(ErrorCode::TopicAlreadyExists),
            RetryAction::Done
        );
    }

    #[test]
    fn disconnects_refresh_metadata() {
        let error = ClientError::Disconnected {
            address: "a:1".into(),
            reason: "eof".into(),
        };
        assert_eq!(action_for_error(&error), RetryAction::RefreshMetadata);
        assert_eq!(action_for_error(&ClientError::Closed), RetryAction::Done);
    }

    #[test]
    fn admin_resource_errors_are_answers_not_retries() {
        use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
        let gone = DeletableTopicResult::default()
            .with_error_code(ErrorCode::UnknownTopicOrPartition.code());
        let response = DeleteTopicsResponse::default().with_responses(vec![gone]);
        assert_eq!(action_for_codes(response.error_codes()), RetryAction::Done);
        let moved =
            DeletableTopicResult::default().with_error_code(ErrorCode::NotController.code());
        let response = DeleteTopicsResponse::default().with_responses(vec![moved]);
        assert_eq!(
            action_for_codes(response.error_codes()),
            RetryAction::RefreshMetadata
        );
    }

    #[test]
    fn strongest_action_wins_across_partitions() {
        let mixed = [
            ErrorCode::None,
            ErrorCode::RequestTimedOut,
            ErrorCode::NotLeaderOrFollower,
        ];
        assert_eq!(action_for_codes(mixed), RetryAction::RefreshMetadata);
        assert_eq!(action_for_codes([]), RetryAction::Done);
    }
}
