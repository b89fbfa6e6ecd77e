//! Plain request inputs and response outputs of the coordinator.
//!
//! They carry exactly what the coordinator needs and decides, free of wire
//! versions, so the broker shell maps them from and to `kafka-protocol`
//! messages field by field.

use bytes::Bytes;
use sluice_protocol::ErrorCode;

pub use super::member::JoinProtocol;
pub use super::state::GroupState;

/// A partition of a topic, the key of committed offsets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

/// JoinGroup, any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupInput {
    /// Request version: v4+ requires a known member id (KIP-394).
    pub api_version: i16,
    /// The group to join.
    pub group_id: String,
    /// Empty for a first join.
    pub member_id: String,
    /// `group.instance.id` of a static member (v5+).
    pub group_instance_id: Option<String>,
    /// Client id from the request header.
    pub client_id: String,
    /// Address of the client.
    pub client_host: String,
    /// Requested session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout (v1+); the shell passes the session timeout for v0.
    pub rebalance_timeout_ms: i32,
    /// e.g. `consumer`.
    pub protocol_type: String,
    /// Supported protocols in order of preference.
    pub protocols: Vec<JoinProtocol>,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static instance id, if any.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub metadata: Bytes,
}

/// JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupOutput {
    /// Outcome of the join.
    pub error: ErrorCode,
    /// Generation the member joined (-1 on error).
    pub generation_id: i32,
    /// Protocol type of the group (v7+).
    pub protocol_type: Option<String>,
    /// Selected protocol.
    pub protocol_name: Option<String>,
    /// Member id of the leader.
    pub leader: String,
    /// The member's id (also on MEMBER_ID_REQUIRED, to rejoin with).
    pub member_id: String,
    /// All members with metadata: only for the leader.
    pub members: Vec<JoinedMember>,
    /// KIP-814 (v9+): the leader must not compute a new assignment (a static
    /// leader rejoined without a rebalance).
    pub skip_assignment: bool,
}

impl JoinGroupOutput {
    /// An error response carrying `member_id`.
    pub fn error(error: ErrorCode, member_id: &str) -> Self {
        Self {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// SyncGroup, any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupInput {
    /// Request version: protocol type/name are checked from v5.
    pub api_version: i16,
    /// The group.
    pub group_id: String,
    /// Generation the member believes is current.
    pub generation_id: i32,
    /// The member.
    pub member_id: String,
    /// Static instance id, if any.
    pub group_instance_id: Option<String>,
    /// Protocol type the member expects (v5+).
    pub protocol_type: Option<String>,
    /// Protocol name the member expects (v5+).
    pub protocol_name: Option<String>,
    /// Assignments per member id: only the leader sends them.
    pub assignments: Vec<(String, Bytes)>,
}

/// SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupOutput {
    /// Outcome of the sync.
    pub error: ErrorCode,
    /// Protocol type of the group (v5+).
    pub protocol_type: Option<String>,
    /// Protocol of the generation (v5+).
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncGroupOutput {
    /// An error response.
    pub fn error(error: ErrorCode) -> Self {
        Self {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// Heartbeat, any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatInput {
    /// The group.
    pub group_id: String,
    /// Generation the member believes is current.
    pub generation_id: i32,
    /// The member.
    pub member_id: String,
    /// Static instance id, if any.
    pub group_instance_id: Option<String>,
}

/// One member leaving (v3+ batches them; older versions send one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// Member id; empty when a static member leaves by instance id.
    pub member_id: String,
    /// Static instance id, if any.
    pub group_instance_id: Option<String>,
}

/// LeaveGroup, any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupInput {
    /// The group.
    pub group_id: String,
    /// Members leaving.
    pub members: Vec<LeavingMember>,
}

/// The result for one leaving member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftMember {
    /// Member id as sent.
    pub member_id: String,
    /// Instance id as sent.
    pub group_instance_id: Option<String>,
    /// Outcome for this member.
    pub error: ErrorCode,
}

/// LeaveGroup response. For v0-2 the shell answers with the single member's
/// error when the top-level error is NONE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupOutput {
    /// Group-level outcome.
    pub error: ErrorCode,
    /// Per-member outcomes (v3+).
    pub members: Vec<LeftMember>,
}

/// One partition's offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPartition {
    /// Where.
    pub partition: TopicPartition,
    /// The next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, -1 if unknown.
    pub leader_epoch: i32,
    /// Free-form client metadata.
    pub metadata: Option<String>,
}

/// OffsetCommit, any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitInput {
    /// The group.
    pub group_id: String,
    /// -1 with an empty member id for a commit outside group management.
    pub generation_id: i32,
    /// The committing member.
    pub member_id: String,
    /// Static instance id, if any.
    pub group_instance_id: Option<String>,
    /// Offsets to commit.
    pub partitions: Vec<CommitPartition>,
}

/// Result for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionResult {
    /// Which partition.
    pub partition: TopicPartition,
    /// Its outcome.
    pub error: ErrorCode,
}

/// OffsetCommit response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitOutput {
    /// Per-partition outcomes, in request order.
    pub partitions: Vec<PartitionResult>,
}

/// OffsetFetch for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchInput {
    /// The group.
    pub group_id: String,
    /// Partitions to fetch; `None` fetches every committed partition.
    pub partitions: Option<Vec<TopicPartition>>,
}

/// One fetched offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    /// Which partition.
    pub partition: TopicPartition,
    /// Committed offset, -1 if none.
    pub offset: i64,
    /// Committed leader epoch, -1 if none.
    pub leader_epoch: i32,
    /// Committed metadata, empty if none.
    pub metadata: String,
    /// Per-partition outcome.
    pub error: ErrorCode,
}

/// OffsetFetch response for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchOutput {
    /// Group-level outcome.
    pub error: ErrorCode,
    /// Offsets, sorted by partition when all were requested.
    pub partitions: Vec<FetchedOffset>,
}

/// OffsetDelete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteInput {
    /// The group.
    pub group_id: String,
    /// Partitions whose offsets to delete.
    pub partitions: Vec<TopicPartition>,
}

/// OffsetDelete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteOutput {
    /// Group-level outcome.
    pub error: ErrorCode,
    /// Per-partition outcomes.
    pub partitions: Vec<PartitionResult>,
}

/// ListGroups request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListGroupsInput {
    /// State names to keep (v4+, case-insensitive); empty keeps all.
    pub states_filter: Vec<String>,
    /// Group types to keep (v5+, case-insensitive); empty keeps all. Every
    /// group here is `classic`.
    pub types_filter: Vec<String>,
}

/// One listed group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// Group id.
    pub group_id: String,
    /// Protocol type, empty for groups without group management.
    pub protocol_type: String,
    /// Current state.
    pub state: GroupState,
}

/// ListGroups response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroupsOutput {
    /// Outcome.
    pub error: ErrorCode,
    /// Groups sorted by id.
    pub groups: Vec<ListedGroup>,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata for the group's protocol (empty unless Stable).
    pub metadata: Bytes,
    /// Assignment (empty unless Stable).
    pub assignment: Bytes,
}

/// One described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// Outcome for this group.
    pub error: ErrorCode,
    /// Group id.
    pub group_id: String,
    /// State; unknown groups are `Dead`, as in Kafka.
    pub state: GroupState,
    /// Protocol type, empty if none.
    pub protocol_type: String,
    /// Protocol of the generation, empty unless Stable.
    pub protocol: String,
    /// Members.
    pub members: Vec<DescribedMember>,
}

/// DeleteGroups result for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedGroup {
    /// Group id.
    pub group_id: String,
    /// Outcome.
    pub error: ErrorCode,
}
