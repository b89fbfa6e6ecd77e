//! Kafka error codes as one `Copy` enum.
//!
//! Every crate error that can reach a client maps into [`ErrorCode`] in one
//! place; the wire carries the `i16`. Codes we do not name round-trip through
//! [`ErrorCode::Unknown`] so nothing is lost.

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $retriable:literal; )*) => {
        /// A Kafka protocol error code (see the Kafka protocol guide's error table).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $name, )*
            /// A code this table does not name; kept as sent.
            Unknown(i16),
        }

        impl ErrorCode {
            /// The code as it travels on the wire.
            pub const fn code(self) -> i16 {
                match self {
                    $( ErrorCode::$name => $code, )*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// The error for a wire code; unnamed codes become [`ErrorCode::Unknown`].
            pub const fn from_code(code: i16) -> Self {
                match code {
                    $( $code => ErrorCode::$name, )*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// Whether Kafka documents the error as retriable.
            pub const fn is_retriable(self) -> bool {
                match self {
                    $( ErrorCode::$name => $retriable, )*
                    ErrorCode::Unknown(_) => false,
                }
            }

            /// The variant's name (`UnknownTopicOrPartition`); `Display` prints
            /// Kafka's form (`UNKNOWN_TOPIC_OR_PARTITION`).
            pub const fn name(self) -> &'static str {
                match self {
                    $( ErrorCode::$name => stringify!($name), )*
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }
        }
    };
}

error_codes! {
    /// The server experienced an unexpected error.
    UnknownServerError = -1, false;
    /// No error.
    None = 0, false;
    /// The requested offset is outside the range the server has for the partition.
    OffsetOutOfRange = 1, false;
    /// The message failed its CRC check or is otherwise corrupt.
    CorruptMessage = 2, true;
    /// The topic or partition does not exist on this server.
    UnknownTopicOrPartition = 3, true;
    /// The requested fetch size is invalid.
    InvalidFetchSize = 4, false;
    /// There is no leader for this partition right now.
    LeaderNotAvailable = 5, true;
    /// This server is not the leader (or follower) of that partition.
    NotLeaderOrFollower = 6, true;
    /// The request timed out.
    RequestTimedOut = 7, true;
    /// The broker is not available.
    BrokerNotAvailable = 8, false;
    /// The replica is not available for the requested partition.
    ReplicaNotAvailable = 9, true;
    /// The request included a message larger than the server accepts.
    MessageTooLarge = 10, false;
    /// The controller moved to another broker.
    StaleControllerEpoch = 11, false;
    /// The metadata field of the offset request was too large.
    OffsetMetadataTooLarge = 12, false;
    /// The server disconnected before a response was received.
    NetworkException = 13, true;
    /// The coordinator is loading and cannot serve this request yet.
    CoordinatorLoadInProgress = 14, true;
    /// The coordinator is not available.
    CoordinatorNotAvailable = 15, true;
    /// This is not the correct coordinator.
    NotCoordinator = 16, true;
    /// The topic name is not valid.
    InvalidTopicException = 17, false;
    /// A batch in the request is larger than the segment size allows.
    RecordListTooLarge = 18, false;
    /// Fewer in-sync replicas than required.
    NotEnoughReplicas = 19, true;
    /// The record was written to fewer in-sync replicas than required.
    NotEnoughReplicasAfterAppend = 20, true;
    /// The requested acks value is invalid (not -1, 0 or 1).
    InvalidRequiredAcks = 21, false;
    /// The generation id is not the current generation.
    IllegalGeneration = 22, false;
    /// The group member's protocol type or protocols are incompatible.
    InconsistentGroupProtocol = 23, false;
    /// The group id is invalid.
    InvalidGroupId = 24, false;
    /// The coordinator is not aware of this member.
    UnknownMemberId = 25, false;
    /// The session timeout is outside the broker's allowed range.
    InvalidSessionTimeout = 26, false;
    /// The group is rebalancing; the member must rejoin.
    RebalanceInProgress = 27, false;
    /// The committed offset is invalid.
    InvalidCommitOffsetSize = 28, false;
    /// Topic authorization failed.
    TopicAuthorizationFailed = 29, false;
    /// Group authorization failed.
    GroupAuthorizationFailed = 30, false;
    /// Cluster authorization failed.
    ClusterAuthorizationFailed = 31, false;
    /// The timestamp of the message is out of the acceptable range.
    InvalidTimestamp = 32, false;
    /// The broker does not support the requested SASL mechanism.
    UnsupportedSaslMechanism = 33, false;
    /// The request is not valid given the current SASL state.
    IllegalSaslState = 34, false;
    /// The version of the API is not supported.
    UnsupportedVersion = 35, false;
    /// The topic already exists.
    TopicAlreadyExists = 36, false;
    /// The number of partitions is invalid.
    InvalidPartitions = 37, false;
    /// The replication factor is invalid.
    InvalidReplicationFactor = 38, false;
    /// The replica assignment is invalid.
    InvalidReplicaAssignment = 39, false;
    /// The configuration is invalid.
    InvalidConfig = 40, false;
    /// This is not the correct controller for this cluster.
    NotController = 41, true;
    /// The request is malformed or otherwise invalid.
    InvalidRequest = 42, false;
    /// The message format version on the broker does not support the request.
    UnsupportedForMessageFormat = 43, false;
    /// The request parameters do not satisfy the configured policy.
    PolicyViolation = 44, false;
    /// The broker received an out of order sequence number.
    OutOfOrderSequenceNumber = 45, false;
    /// The broker received a duplicate sequence number.
    DuplicateSequenceNumber = 46, false;
    /// The producer's epoch is older than the broker's (a newer producer exists).
    InvalidProducerEpoch = 47, false;
    /// The producer attempted a transactional operation in an invalid state.
    InvalidTxnState = 48, false;
    /// The producer id mapping is invalid.
    InvalidProducerIdMapping = 49, false;
    /// The transaction timeout is larger than the broker allows.
    InvalidTransactionTimeout = 50, false;
    /// Another request for the same transactional id is in progress.
    ConcurrentTransactions = 51, true;
    /// The transaction coordinator has fenced this producer.
    TransactionCoordinatorFenced = 52, false;
    /// Transactional id authorization failed.
    TransactionalIdAuthorizationFailed = 53, false;
    /// Security features are disabled.
    SecurityDisabled = 54, false;
    /// The broker did not attempt the operation.
    OperationNotAttempted = 55, false;
    /// A disk error occurred while accessing the log.
    KafkaStorageError = 56, true;
    /// The user-specified log directory is not found.
    LogDirNotFound = 57, false;
    /// SASL authentication failed.
    SaslAuthenticationFailed = 58, false;
    /// The broker has no state for this producer id.
    UnknownProducerId = 59, false;
    /// A partition reassignment is in progress.
    ReassignmentInProgress = 60, false;
    /// Delegation token authentication is disabled.
    DelegationTokenAuthDisabled = 61, false;
    /// The delegation token was not found.
    DelegationTokenNotFound = 62, false;
    /// The delegation token owner does not match.
    DelegationTokenOwnerMismatch = 63, false;
    /// Delegation token requests are not allowed on this connection.
    DelegationTokenRequestNotAllowed = 64, false;
    /// Delegation token authorization failed.
    DelegationTokenAuthorizationFailed = 65, false;
    /// The delegation token has expired.
    DelegationTokenExpired = 66, false;
    /// The principal type is not supported.
    InvalidPrincipalType = 67, false;
    /// The group is not empty.
    NonEmptyGroup = 68, false;
    /// The group id does not exist.
    GroupIdNotFound = 69, false;
    /// The fetch session id was not found.
    FetchSessionIdNotFound = 70, true;
    /// The fetch session epoch is invalid.
    InvalidFetchSessionEpoch = 71, true;
    /// No matching listener.
    ListenerNotFound = 72, true;
    /// Topic deletion is disabled.
    TopicDeletionDisabled = 73, false;
    /// The leader epoch in the request is older than the broker's.
    FencedLeaderEpoch = 74, true;
    /// The leader epoch in the request is newer than the broker's.
    UnknownLeaderEpoch = 75, true;
    /// The compression type is not supported for this request version.
    UnsupportedCompressionType = 76, false;
    /// The broker epoch is stale.
    StaleBrokerEpoch = 77, false;
    /// The leader's high watermark is ahead of the requested offset.
    OffsetNotAvailable = 78, true;
    /// The group member needs a valid member id before joining.
    MemberIdRequired = 79, false;
    /// The preferred leader was not available.
    PreferredLeaderNotAvailable = 80, true;
    /// The group reached its maximum size.
    GroupMaxSizeReached = 81, false;
    /// A static member with this group.instance.id was replaced by a newer one.
    FencedInstanceId = 82, false;
    /// Eligible leaders are not available.
    EligibleLeadersNotAvailable = 83, true;
    /// Leader election is not needed.
    ElectionNotNeeded = 84, true;
    /// No partition reassignment is in progress.
    NoReassignmentInProgress = 85, false;
    /// Deleting offsets of a topic the group is subscribed to is not allowed.
    GroupSubscribedToTopic = 86, false;
    /// The record was rejected by validation.
    InvalidRecord = 87, false;
    /// There are unstable offsets that must be cleared first.
    UnstableOffsetCommit = 88, true;
    /// The throttling quota was exceeded.
    ThrottlingQuotaExceeded = 89, true;
    /// A newer producer with the same transactional id fenced this one.
    ProducerFenced = 90, false;
    /// A request illegally referred to a resource that does not exist.
    ResourceNotFound = 91, false;
    /// A request illegally referred to the same resource twice.
    DuplicateResource = 92, false;
    /// The requested credential would not meet the criteria for acceptability.
    UnacceptableCredential = 93, false;
    /// The voter set is inconsistent.
    InconsistentVoterSet = 94, false;
    /// The given update version was invalid.
    InvalidUpdateVersion = 95, false;
    /// The feature update failed.
    FeatureUpdateFailed = 96, false;
    /// The principal could not be serialized for forwarding.
    PrincipalDeserializationFailure = 97, false;
    /// The requested snapshot was not found.
    SnapshotNotFound = 98, false;
    /// The requested offset is above the follower's or leader's position.
    PositionOutOfRange = 99, false;
    /// The topic id does not exist on this server.
    UnknownTopicId = 100, true;
    /// The broker id is already registered.
    DuplicateBrokerRegistration = 101, false;
    /// The broker id is not what the controller expected.
    BrokerIdNotRegistered = 102, false;
    /// The topic id is inconsistent with the topic name.
    InconsistentTopicId = 103, true;
    /// The cluster id is inconsistent.
    InconsistentClusterId = 104, false;
    /// The transactional id was not found.
    TransactionalIdNotFound = 105, false;
    /// The fetch session had a topic id mismatch.
    FetchSessionTopicIdError = 106, true;
    /// The ineligible replica was used.
    IneligibleReplica = 107, false;
    /// The new ISR contains at least one ineligible replica.
    NewLeaderElected = 108, false;
    /// The requested offset was moved to tiered storage.
    OffsetMovedToTieredStorage = 109, false;
    /// The member epoch is fenced by the group coordinator.
    FencedMemberEpoch = 110, false;
    /// The instance id is unreleased.
    UnreleasedInstanceId = 111, false;
    /// The assignor or its version range is not supported.
    UnsupportedAssignor = 112, false;
    /// The member epoch is stale.
    StaleMemberEpoch = 113, false;
    /// The request was sent to an endpoint of the wrong type.
    MismatchedEndpointType = 114, false;
    /// This endpoint type is not supported yet.
    UnsupportedEndpointType = 115, false;
    /// This controller id is not known.
    UnknownControllerId = 116, false;
    /// The subscription id is unknown.
    UnknownSubscriptionId = 117, false;
    /// The telemetry subscription is too large.
    TelemetryTooLarge = 118, false;
    /// The registration was invalid.
    InvalidRegistration = 119, false;
    /// The transaction was aborted on the server side.
    TransactionAbortable = 120, false;
    /// The record state is invalid.
    InvalidRecordState = 121, false;
    /// The share session id was not found.
    ShareSessionNotFound = 122, true;
    /// The share session epoch is invalid.
    InvalidShareSessionEpoch = 123, true;
    /// The voter key is not valid.
    FencedStateEpoch = 124, false;
    /// The voter key is invalid.
    InvalidVoterKey = 125, false;
    /// The voter is a duplicate.
    DuplicateVoter = 126, false;
    /// The voter is not known.
    VoterNotFound = 127, false;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", screaming_snake(self.name()), self.code())
    }
}

/// Turns `UnknownTopicOrPartition` into `UNKNOWN_TOPIC_OR_PARTITION`.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (index, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && index > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_losslessly() {
        for code in i16::MIN..=i16::MAX {
            assert_eq!(ErrorCode::from_code(code).code(), code);
        }
    }

    #[test]
    fn named_codes_match_kafka_table() {
        assert_eq!(ErrorCode::from_code(0), ErrorCode::None);
        assert_eq!(ErrorCode::from_code(3), ErrorCode::UnknownTopicOrPartition);
        assert_eq!(ErrorCode::from_code(35), ErrorCode::UnsupportedVersion);
        assert_eq!(ErrorCode::from_code(79), ErrorCode::MemberIdRequired);
        assert_eq!(ErrorCode::from_code(9999), ErrorCode::Unknown(9999));
    }

    #[test]
    fn display_uses_kafka_names() {
        assert_eq!(
            ErrorCode::UnknownTopicOrPartition.to_string(),
            "UNKNOWN_TOPIC_OR_PARTITION (3)"
        );
        assert!(ErrorCode::NotLeaderOrFollower.is_retriable());
        assert!(!ErrorCode::InvalidTopicException.is_retriable());
    }
}
