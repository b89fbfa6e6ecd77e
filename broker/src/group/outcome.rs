//! What the coordinator asks its shell to do: send responses, append records.

use sluice_protocol::ErrorCode;

use super::messages::{
    DeletedGroup, DescribedGroup, JoinGroupOutput, LeaveGroupOutput, ListGroupsOutput,
    OffsetCommitOutput, OffsetDeleteOutput, OffsetFetchOutput, SyncGroupOutput,
};
use super::records::OffsetsRecord;

/// The shell's handle for one request; responses come back tagged with it,
/// possibly much later (JoinGroup and SyncGroup wait for the rebalance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestToken(pub u64);

/// Identifies one append the shell must report back through
/// [`GroupCoordinator::persisted`](super::GroupCoordinator::persisted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersistId(pub u64);

/// A response to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// JoinGroup.
    JoinGroup(JoinGroupOutput),
    /// SyncGroup.
    SyncGroup(SyncGroupOutput),
    /// Heartbeat: only an error code.
    Heartbeat(ErrorCode),
    /// LeaveGroup.
    LeaveGroup(LeaveGroupOutput),
    /// OffsetCommit.
    OffsetCommit(OffsetCommitOutput),
    /// OffsetFetch.
    OffsetFetch(OffsetFetchOutput),
    /// OffsetDelete.
    OffsetDelete(OffsetDeleteOutput),
    /// ListGroups.
    ListGroups(ListGroupsOutput),
    /// DescribeGroups.
    DescribeGroups(Vec<DescribedGroup>),
    /// DeleteGroups.
    DeleteGroups(Vec<DeletedGroup>),
}

impl Reply {
    /// Replace every outcome in the reply by `error`: what a client must
    /// see when the records backing the reply could not be made durable.
    pub(crate) fn fail(&mut self, error: ErrorCode) {
        match self {
            Reply::JoinGroup(out) => *out = JoinGroupOutput::error(error, &out.member_id),
            Reply::SyncGroup(out) => *out = SyncGroupOutput::error(error),
            Reply::Heartbeat(code) => *code = error,
            Reply::LeaveGroup(out) => out.error = error,
            Reply::OffsetCommit(out) => out.partitions.iter_mut().for_each(|p| p.error = error),
            Reply::OffsetFetch(out) => out.error = error,
            Reply::OffsetDelete(out) => out.error = error,
            Reply::ListGroups(out) => out.error = error,
            Reply::DescribeGroups(groups) => groups.iter_mut().for_each(|g| g.error = error),
            Reply::DeleteGroups(groups) => groups.iter_mut().for_each(|g| g.error = error),
        }
    }
}

/// A reply addressed to the request it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The request answered.
    pub token: RequestToken,
    /// The answer.
    pub reply: Reply,
}

/// Records to append to one `__consumer_offsets` partition, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persist {
    /// Report the append's result with this id.
    pub id: PersistId,
    /// The group whose records these are.
    pub group_id: String,
    /// Partition of `__consumer_offsets` to append to.
    pub partition: i32,
    /// Key/value records; a `None` value is a tombstone.
    pub records: Vec<OffsetsRecord>,
}

/// Everything a call asks of the shell. Append the persists (each as one
/// batch) and report them; send the responses in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "responses must be sent and records appended"]
pub struct Outcome {
    /// Responses ready to send now.
    pub responses: Vec<Response>,
    /// Appends to make; their results go to `persisted`.
    pub persists: Vec<Persist>,
}

impl Outcome {
    /// Merge `other` after this outcome's effects.
    pub fn extend(&mut self, other: Outcome) {
        self.responses.extend(other.responses);
        self.persists.extend(other.persists);
    }

    /// Queue a response.
    pub(crate) fn respond(&mut self, token: RequestToken, reply: Reply) {
        self.responses.push(Response { token, reply });
    }

    /// The first response for `token`, if any (handy for callers and tests).
    pub fn response_for(&self, token: RequestToken) -> Option<&Reply> {
        self.responses
            .iter()
            .find(|r| r.token == token)
            .map(|r| &r.reply)
    }
}
