//! One classic group: its state, generation, members and protocol choice.
//!
//! These are the data-level transitions; `membership.rs` drives them from
//! requests and timers and decides the responses.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Buf;
use bytes::Bytes;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

use super::member::{JoinProtocol, Member};
use super::messages::JoinedMember;
use super::outcome::RequestToken;
use super::records::{GroupValue, MemberValue};

/// The protocol type of Kafka consumers, whose metadata we can decode.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Where a group is in its rebalance cycle, spelled as Kafka spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Removed; no longer accepts requests.
    Dead,
}

impl GroupState {
    /// Every state, for filters and tests.
    pub const ALL: [GroupState; 5] = [
        GroupState::Empty,
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
    ];

    /// The name Kafka reports in ListGroups and DescribeGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Parse a state name case-insensitively, as ListGroups filters do.
    pub fn parse(name: &str) -> Option<GroupState> {
        GroupState::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// The first rebalance of an empty group waits
/// `group.initial.rebalance.delay.ms`, extended while new members keep
/// arriving, never beyond the rebalance timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InitialDelay {
    /// The delay added per arriving member.
    pub(crate) delay_ms: i64,
    /// The latest the rebalance may complete.
    pub(crate) limit_ms: i64,
}

/// A classic group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub(crate) group_id: String,
    pub(crate) state: GroupState,
    pub(crate) state_since_ms: i64,
    pub(crate) generation_id: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader_id: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// `group.instance.id` → member id of static members.
    pub(crate) static_members: BTreeMap<String, String>,
    /// KIP-394 members told MEMBER_ID_REQUIRED → deadline to rejoin by.
    pub(crate) pending_members: BTreeMap<String, i64>,
    /// Members parked in JoinGroup until the join phase completes.
    pub(crate) join_waiters: BTreeMap<String, RequestToken>,
    /// Members parked in SyncGroup until the leader's assignment is stored.
    pub(crate) sync_waiters: BTreeMap<String, RequestToken>,
    /// When the join phase gives up on members that did not rejoin.
    pub(crate) join_deadline_ms: Option<i64>,
    /// Set while the join phase is the group's initial delayed one.
    pub(crate) initial_delay: Option<InitialDelay>,
    /// When CompletingRebalance gives up on members that never synced.
    pub(crate) sync_deadline_ms: Option<i64>,
    pub(crate) next_join_order: u64,
    /// The append of the leader's assignment still in flight: members that
    /// sync meanwhile wait for it, as in Kafka.
    pub(crate) assignment_persist: Option<super::outcome::PersistId>,
}

impl Group {
    /// A new, empty group.
    pub(crate) fn new(group_id: &str, now_ms: i64) -> Self {
        Self {
            group_id: group_id.to_owned(),
            state: GroupState::Empty,
            state_since_ms: now_ms,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            join_waiters: BTreeMap::new(),
            sync_waiters: BTreeMap::new(),
            join_deadline_ms: None,
            initial_delay: None,
            sync_deadline_ms: None,
            next_join_order: 0,
            assignment_persist: None,
        }
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    /// The current state.
    pub fn state(&self) -> GroupState {
        self.state
    }
    /// The current generation.
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }
    /// The leader, if the group has members.
    pub fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }
    /// The protocol of the current generation.
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }
    /// The members by id.
    pub fn members(&self) -> &BTreeMap<String, Member> {
        &self.members
    }

    pub(crate) fn transition_to(&mut self, state: GroupState, now_ms: i64) {
        tracing::debug!(group = %self.group_id, from = self.state.name(), to = state.name(), "group state");
        self.state = state;
        self.state_since_ms = now_ms;
    }

    /// Whether `instance_id` belongs to a member other than `member_id`.
    pub(crate) fn is_static_member_fenced(
        &self,
        instance_id: Option<&str>,
        member_id: &str,
    ) -> bool {
        instance_id
            .and_then(|id| self.static_members.get(id))
            .is_some_and(|known| known != member_id)
    }

    /// Add a member; the first one becomes leader.
    pub(crate) fn add_member(&mut self, mut member: Member) {
        member.join_order = self.next_join_order;
        self.next_join_order += 1;
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        self.members.insert(member.member_id.clone(), member);
    }

    /// Remove a member; a new leader is the earliest remaining joiner.
    pub(crate) fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.group_instance_id
            && self
                .static_members
                .get(instance)
                .is_some_and(|id| id == member_id)
        {
            self.static_members.remove(instance);
        }
        self.join_waiters.remove(member_id);
        self.sync_waiters.remove(member_id);
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = self.earliest_member(|_| true);
        }
        Some(member)
    }

    /// Earliest joined member passing `filter`.
    pub(crate) fn earliest_member(&self, filter: impl Fn(&Member) -> bool) -> Option<String> {
        self.members
            .values()
            .filter(|m| filter(m))
            .min_by_key(|m| m.join_order)
            .map(|m| m.member_id.clone())
    }

    /// Protocols every member supports.
    pub(crate) fn candidate_protocols(&self) -> Vec<&str> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<&str> = first.protocols.iter().map(|p| p.name.as_str()).collect();
        for member in members {
            candidates.retain(|name| member.metadata_for(name).is_some());
        }
        candidates
    }

    /// Whether a member with these protocols may join: the protocol type
    /// matches and one protocol is supported by everyone.
    pub(crate) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[JoinProtocol],
    ) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && self
                .candidate_protocols()
                .iter()
                .any(|candidate| protocols.iter().any(|p| p.name == *candidate))
    }

    /// Kafka's vote: each member votes for its most preferred candidate;
    /// the most votes wins (ties go to the smallest name, to be deterministic).
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some(vote) = member.vote(&candidates) {
                *votes.entry(vote).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, n)| *n == best)
            .map(|(name, _)| name.to_owned())
    }

    /// Whether every member rejoined and no KIP-394 member is pending.
    pub(crate) fn all_members_joined(&self) -> bool {
        self.join_waiters.len() == self.members.len() && self.pending_members.is_empty()
    }

    /// The longest rebalance timeout of the members (the join phase bound).
    pub(crate) fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Start the next generation: CompletingRebalance with a protocol, or
    /// Empty when nobody is left.
    pub(crate) fn init_next_generation(&mut self, now_ms: i64) {
        self.generation_id = self.generation_id.wrapping_add(1);
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
            member.synced = false;
        }
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition_to(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = self.select_protocol();
            self.transition_to(GroupState::CompletingRebalance, now_ms);
        }
    }

    /// Every member's metadata for the selected protocol (the leader's view).
    pub(crate) fn current_member_metadata(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.join_order);
        members
            .into_iter()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(protocol).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// Topics the members subscribe to, when the group is a consumer group
    /// whose subscriptions decode; `None` means "unknown, assume all".
    pub(crate) fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            let subscription = decode_subscription(member.metadata_for(protocol)?)?;
            topics.extend(subscription.topics.into_iter().map(|t| t.to_string()));
        }
        Some(topics)
    }

    /// The group's durable form.
    pub(crate) fn to_record_value(&self) -> GroupValue {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.join_order);
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation_id,
            protocol: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp_ms: self.state_since_ms,
            members: members
                .into_iter()
                .map(|m| MemberValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata_for(protocol).cloned().unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

/// Decode a consumer subscription: an `int16` version, then the body. Newer
/// versions are read as the newest we know, as Kafka does for forward
/// compatibility.
fn decode_subscription(metadata: &Bytes) -> Option<ConsumerProtocolSubscription> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    ConsumerProtocolSubscription::decode(&mut buf, version.min(3)).ok()
}
