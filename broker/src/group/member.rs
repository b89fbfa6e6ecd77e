//! One member of a classic group and how member ids are made.

use bytes::Bytes;

/// One protocol a member supports, with its opaque metadata (for consumers:
/// an encoded `ConsumerProtocolSubscription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinProtocol {
    /// Protocol (assignor) name, e.g. `range`.
    pub name: String,
    /// Metadata the leader receives for this protocol.
    pub metadata: Bytes,
}

/// A member of a group as the coordinator knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Id the coordinator assigned; fences stale incarnations.
    pub member_id: String,
    /// `group.instance.id` of a static member (KIP-345).
    pub group_instance_id: Option<String>,
    /// Client id the member connected with (shown by DescribeGroups).
    pub client_id: String,
    /// Client host the member connected from (shown by DescribeGroups).
    pub client_host: String,
    /// How long a rebalance may wait for this member to rejoin.
    pub rebalance_timeout_ms: i32,
    /// How long the member may stay silent before it is removed.
    pub session_timeout_ms: i32,
    /// Protocols in the member's order of preference.
    pub protocols: Vec<JoinProtocol>,
    /// The assignment of the current generation (empty until SyncGroup).
    pub assignment: Bytes,
    /// Order of joining: the lowest remaining one becomes leader when the
    /// leader leaves, which keeps leader choice deterministic.
    pub(crate) join_order: u64,
    /// When the member last proved it is alive.
    pub(crate) last_heartbeat_ms: i64,
    /// Whether the member sent SyncGroup in the current generation.
    pub(crate) synced: bool,
}

impl Member {
    /// Metadata this member sent for `protocol`, if it supports it.
    pub fn metadata_for(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| &p.metadata)
    }

    /// The member's most preferred protocol among `candidates` (its vote).
    pub(crate) fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// Whether the member's session ran out at `now_ms` (the caller keeps
    /// members parked in JoinGroup or SyncGroup alive, as Kafka does).
    pub(crate) fn session_expired(&self, now_ms: i64) -> bool {
        self.last_heartbeat_ms + i64::from(self.session_timeout_ms) <= now_ms
    }
}

/// Source of new member ids. Injected so tests are deterministic.
pub trait MemberIdGenerator: std::fmt::Debug + Send {
    /// A fresh id for a member of `client_id` (or of `group.instance.id` for
    /// static members, which is what Kafka prefixes those with).
    fn next_member_id(&mut self, prefix: &str) -> String;
}

/// Kafka's member ids: `"{prefix}-{random uuid}"`.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidMemberIds;

impl MemberIdGenerator for UuidMemberIds {
    fn next_member_id(&mut self, prefix: &str) -> String {
        format!("{prefix}-{}", uuid::Uuid::new_v4())
    }
}

/// Predictable member ids `"{prefix}-{n}"`, for tests and simulations.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingMemberIds {
    next: u64,
}

impl MemberIdGenerator for CountingMemberIds {
    fn next_member_id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}", self.next)
    }
}
