//! Test fixtures: a harness that drives the coordinator like a shell would.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::member::CountingMemberIds;
use super::messages::{
    HeartbeatInput, JoinGroupInput, JoinGroupOutput, LeaveGroupInput, LeavingMember,
    SyncGroupInput, SyncGroupOutput,
};
use super::records::OffsetsRecord;
use super::{GroupConfig, GroupCoordinator, JoinProtocol, Outcome, Reply, RequestToken, Response};
use sluice_protocol::ErrorCode;

/// The group most tests use.
pub(crate) const GROUP: &str = "g";

/// A consumer subscription to `topics`, encoded as Kafka clients do.
pub(crate) fn subscription(topics: &[&str]) -> Bytes {
    let body = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string((*t).to_owned()))
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    body.encode(&mut buf, 0)
        .expect("encoding a small subscription cannot fail");
    buf.freeze()
}

/// A JoinGroup v5 of a consumer using `range`, subscribed to topic `t`.
pub(crate) fn join_input(member_id: &str) -> JoinGroupInput {
    JoinGroupInput {
        api_version: 5,
        group_id: GROUP.to_owned(),
        member_id: member_id.to_owned(),
        group_instance_id: None,
        client_id: "client".to_owned(),
        client_host: "/127.0.0.1".to_owned(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".to_owned(),
        protocols: vec![JoinProtocol {
            name: "range".to_owned(),
            metadata: subscription(&["t"]),
        }],
    }
}

/// Drives a coordinator: hands out tokens, keeps time, acknowledges appends
/// (unless told not to) and keeps the appended log.
#[derive(Debug)]
pub(crate) struct Harness {
    pub(crate) coordinator: GroupCoordinator,
    pub(crate) now_ms: i64,
    next_token: u64,
    /// Acknowledge every append as soon as it is requested.
    pub(crate) auto_persist: bool,
    /// Every record appended, in order.
    pub(crate) log: Vec<OffsetsRecord>,
    /// Report every append as failed (NOT_COORDINATOR) instead.
    pub(crate) fail_appends: bool,
    /// Appends not yet acknowledged (when `auto_persist` is off).
    pub(crate) unacked: Vec<super::Persist>,
}

impl Harness {
    /// Default config but with no initial rebalance delay.
    pub(crate) fn new() -> Self {
        Self::with_config(GroupConfig {
            group_initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        })
    }

    pub(crate) fn with_config(config: GroupConfig) -> Self {
        Self {
            coordinator: GroupCoordinator::with_member_ids(
                config,
                Box::new(CountingMemberIds::default()),
            ),
            now_ms: 1_000_000,
            next_token: 0,
            auto_persist: true,
            fail_appends: false,
            log: Vec::new(),
            unacked: Vec::new(),
        }
    }

    pub(crate) fn token(&mut self) -> RequestToken {
        self.next_token += 1;
        RequestToken(self.next_token)
    }

    /// Collect an outcome's responses, acknowledging appends if asked to.
    pub(crate) fn settle(&mut self, outcome: Outcome) -> Vec<Response> {
        let mut responses = outcome.responses;
        for persist in outcome.persists {
            if !(self.auto_persist && self.fail_appends) {
                self.log.extend(persist.records.iter().cloned());
            }
            if self.auto_persist {
                let result = if self.fail_appends {
                    Err(ErrorCode::NotCoordinator)
                } else {
                    Ok(())
                };
                let more = self.coordinator.persisted(persist.id, result, self.now_ms);
                responses.extend(self.settle(more));
            } else {
                self.unacked.push(persist);
            }
        }
        responses
    }

    pub(crate) fn join(&mut self, input: JoinGroupInput) -> (RequestToken, Vec<Response>) {
        let token = self.token();
        let outcome = self.coordinator.join_group(token, input, self.now_ms);
        (token, self.settle(outcome))
    }

    pub(crate) fn sync(&mut self, input: SyncGroupInput) -> (RequestToken, Vec<Response>) {
        let token = self.token();
        let outcome = self.coordinator.sync_group(token, input, self.now_ms);
        (token, self.settle(outcome))
    }

    pub(crate) fn heartbeat(&mut self, member_id: &str, generation_id: i32) -> ErrorCode {
        let token = self.token();
        let input = HeartbeatInput {
            group_id: GROUP.to_owned(),
            generation_id,
            member_id: member_id.to_owned(),
            group_instance_id: None,
        };
        let outcome = self.coordinator.heartbeat(token, input, self.now_ms);
        match reply(&self.settle(outcome), token) {
            Some(Reply::Heartbeat(code)) => *code,
            other => panic!("heartbeat answered with {other:?}"),
        }
    }

    pub(crate) fn leave(&mut self, member_id: &str) -> Vec<Response> {
        let token = self.token();
        let members = vec![LeavingMember {
            member_id: member_id.to_owned(),
            group_instance_id: None,
        }];
        let outcome = self.coordinator.leave_group(
            token,
            LeaveGroupInput {
                group_id: GROUP.to_owned(),
                members,
            },
            self.now_ms,
        );
        self.settle(outcome)
    }

    pub(crate) fn advance(&mut self, ms: i64) -> Vec<Response> {
        self.now_ms += ms;
        let outcome = self.coordinator.tick(self.now_ms);
        self.settle(outcome)
    }

    /// A v5 JoinGroup with a generated id: the second round trip of KIP-394
    /// is not needed for v3, so tests that do not care use v3.
    pub(crate) fn join_new(&mut self) -> (RequestToken, Vec<Response>) {
        self.join(JoinGroupInput {
            api_version: 3,
            ..join_input("")
        })
    }

    /// Bring `n` members to a Stable group through KIP-394 joins; returns
    /// their ids (leader first) and the generation.
    pub(crate) fn stable_group(&mut self, n: usize) -> (Vec<String>, i32) {
        let mut ids = Vec::new();
        for _ in 0..n {
            let (token, responses) = self.join(join_input(""));
            ids.push(join_reply(&responses, token).member_id);
        }
        let mut tokens = Vec::new();
        let mut responses = Vec::new();
        for id in &ids {
            let (token, r) = self.join(join_input(id));
            tokens.push(token);
            responses.extend(r);
        }
        let joins: Vec<JoinGroupOutput> =
            tokens.iter().map(|t| join_reply(&responses, *t)).collect();
        let generation = joins[0].generation_id;
        let leader = joins[0].leader.clone();
        ids.sort_by_key(|id| id != &leader);
        let assignments = ids
            .iter()
            .map(|id| (id.clone(), Bytes::from(format!("assign-{id}"))))
            .collect();
        self.sync(sync_input(&leader, generation, assignments));
        for follower in &ids[1..] {
            self.sync(sync_input(follower, generation, Vec::new()));
        }
        (ids, generation)
    }
}

pub(crate) fn sync_input(
    member_id: &str,
    generation_id: i32,
    assignments: Vec<(String, Bytes)>,
) -> SyncGroupInput {
    SyncGroupInput {
        api_version: 5,
        group_id: GROUP.to_owned(),
        generation_id,
        member_id: member_id.to_owned(),
        group_instance_id: None,
        protocol_type: Some("consumer".to_owned()),
        protocol_name: Some("range".to_owned()),
        assignments,
    }
}

/// The reply for `token`, if any.
pub(crate) fn reply(responses: &[Response], token: RequestToken) -> Option<&Reply> {
    responses
        .iter()
        .find(|r| r.token == token)
        .map(|r| &r.reply)
}

/// The JoinGroup reply for `token`; panics if there is none.
pub(crate) fn join_reply(responses: &[Response], token: RequestToken) -> JoinGroupOutput {
    match reply(responses, token) {
        Some(Reply::JoinGroup(out)) => out.clone(),
        other => panic!("expected a JoinGroup reply, got {other:?}"),
    }
}

/// The SyncGroup reply for `token`; panics if there is none.
pub(crate) fn sync_reply(responses: &[Response], token: RequestToken) -> SyncGroupOutput {
    match reply(responses, token) {
        Some(Reply::SyncGroup(out)) => out.clone(),
        other => panic!("expected a SyncGroup reply, got {other:?}"),
    }
}
