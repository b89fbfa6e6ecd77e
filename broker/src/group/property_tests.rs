//! Random sequences of group requests and time never panic the coordinator
//! and keep its invariants.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;

use super::messages::{
    CommitPartition, HeartbeatInput, JoinGroupInput, LeaveGroupInput, LeavingMember,
    OffsetCommitInput, TopicPartition,
};
use super::testing::{GROUP, Harness, join_input, sync_input};
use super::{GroupConfig, GroupCoordinator, GroupState, Reply, Response};

/// How many clients the sequences juggle.
const CLIENTS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Join {
        client: usize,
        api_version: i16,
        is_static: bool,
    },
    Sync {
        client: usize,
    },
    Heartbeat {
        client: usize,
    },
    Leave {
        client: usize,
    },
    Commit {
        client: usize,
    },
    Tick {
        ms: i64,
    },
    FailAppends(bool),
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS;
    prop_oneof![
        4 => (client.clone(), prop_oneof![Just(3i16), Just(5i16)], any::<bool>()).prop_map(
            |(client, api_version, is_static)| Op::Join { client, api_version, is_static }
        ),
        4 => client.clone().prop_map(|client| Op::Sync { client }),
        2 => client.clone().prop_map(|client| Op::Heartbeat { client }),
        1 => client.clone().prop_map(|client| Op::Leave { client }),
        2 => client.prop_map(|client| Op::Commit { client }),
        2 => (0i64..40_000).prop_map(|ms| Op::Tick { ms }),
        1 => proptest::bool::weighted(0.2).prop_map(Op::FailAppends),
    ]
}

/// What each simulated client believes: its member id and generation.
#[derive(Debug, Default, Clone)]
struct Client {
    member_id: String,
    generation_id: i32,
    instance_id: Option<String>,
}

struct Sim {
    h: Harness,
    clients: Vec<Client>,
    answered: BTreeSet<u64>,
    last_generation: i32,
    appends_failed: bool,
}

impl Sim {
    fn absorb(&mut self, responses: Vec<Response>) {
        for response in responses {
            assert!(
                self.answered.insert(response.token.0),
                "token {:?} answered twice",
                response.token
            );
            if let Reply::JoinGroup(out) = &response.reply
                && let Some(client) = self.clients.iter_mut().find(|c| {
                    c.member_id == out.member_id
                        || c.member_id.is_empty()
                            && out.error == sluice_protocol::ErrorCode::MemberIdRequired
                })
            {
                client.member_id = out.member_id.clone();
                if out.generation_id >= 0 {
                    client.generation_id = out.generation_id;
                }
            }
        }
    }

    fn apply(&mut self, op: Op) {
        let now = self.h.now_ms;
        match op {
            Op::Join {
                client,
                api_version,
                is_static,
            } => {
                let c = &mut self.clients[client];
                if is_static && c.instance_id.is_none() && c.member_id.is_empty() {
                    c.instance_id = Some(format!("instance-{client}"));
                }
                let input = JoinGroupInput {
                    api_version,
                    group_instance_id: c.instance_id.clone(),
                    ..join_input(&c.member_id)
                };
                let token = self.h.token();
                let outcome = self.h.coordinator.join_group(token, input, now);
                let responses = self.h.settle(outcome);
                // A join's own reply names the member id it was given.
                if let Some(Reply::JoinGroup(out)) = responses
                    .iter()
                    .find(|r| r.token == token)
                    .map(|r| &r.reply)
                    && !out.member_id.is_empty()
                {
                    self.clients[client].member_id = out.member_id.clone();
                }
                self.absorb(responses);
            }
            Op::Sync { client } => {
                let c = self.clients[client].clone();
                let members: Vec<String> = self
                    .h
                    .coordinator
                    .group(GROUP)
                    .map(|g| g.members().keys().cloned().collect())
                    .unwrap_or_default();
                let assignments = members
                    .into_iter()
                    .map(|m| (m.clone(), Bytes::from(m)))
                    .collect();
                let mut input = sync_input(&c.member_id, c.generation_id, assignments);
                input.group_instance_id = c.instance_id;
                let token = self.h.token();
                let outcome = self.h.coordinator.sync_group(token, input, now);
                let responses = self.h.settle(outcome);
                self.absorb(responses);
            }
            Op::Heartbeat { client } => {
                let c = self.clients[client].clone();
                let input = HeartbeatInput {
                    group_id: GROUP.into(),
                    generation_id: c.generation_id,
                    member_id: c.member_id,
                    group_instance_id: c.instance_id,
                };
                let token = self.h.token();
                let outcome = self.h.coordinator.heartbeat(token, input, now);
                let responses = self.h.settle(outcome);
                self.absorb(responses);
            }
            Op::Leave { client } => {
                let c = self.clients[client].clone();
                let members = vec![LeavingMember {
                    member_id: c.member_id,
                    group_instance_id: c.instance_id,
                }];
                let token = self.h.token();
                let outcome = self.h.coordinator.leave_group(
                    token,
                    LeaveGroupInput {
                        group_id: GROUP.into(),
                        members,
                    },
                    now,
                );
                let responses = self.h.settle(outcome);
                self.absorb(responses);
                self.clients[client] = Client::default();
            }
            Op::Commit { client } => {
                let c = self.clients[client].clone();
                let partitions = vec![CommitPartition {
                    partition: TopicPartition {
                        topic: "t".into(),
                        partition: client as i32,
                    },
                    offset: 1,
                    leader_epoch: -1,
                    metadata: None,
                }];
                let input = OffsetCommitInput {
                    group_id: GROUP.into(),
                    generation_id: c.generation_id,
                    member_id: c.member_id,
                    group_instance_id: c.instance_id,
                    partitions,
                };
                let token = self.h.token();
                let outcome = self.h.coordinator.offset_commit(token, input, now);
                let responses = self.h.settle(outcome);
                self.absorb(responses);
            }
            Op::FailAppends(fail) => {
                self.h.fail_appends = fail;
                self.appends_failed |= fail;
            }
            Op::Tick { ms } => {
                let responses = self.h.advance(ms);
                self.absorb(responses);
            }
        }
    }

    /// Replaying the appended log rebuilds the durable state: all offsets,
    /// and each Stable or Empty group's generation, leader and assignments.
    fn check_replay(&self) {
        let mut loaded = GroupCoordinator::new(self.h.coordinator.config().clone());
        for record in &self.h.log {
            loaded
                .load_record(&record.key, record.value.as_deref(), self.h.now_ms)
                .expect("our records decode");
        }
        loaded.finish_loading(self.h.now_ms);
        assert_eq!(loaded.offsets(), self.h.coordinator.offsets());
        let Some(live) = self.h.coordinator.group(GROUP) else {
            return;
        };
        let durable = match live.state() {
            GroupState::Stable => true,
            GroupState::Empty => {
                live.generation_id() > 0 || self.h.coordinator.offsets().has_offsets(GROUP)
            }
            _ => false,
        };
        if !durable {
            return;
        }
        let rebuilt = loaded.group(GROUP).expect("a durable group is rebuilt");
        let summary = |g: &super::Group| {
            let members: Vec<(String, Bytes)> = g
                .members()
                .values()
                .map(|m| (m.member_id.clone(), m.assignment.clone()))
                .collect();
            (
                g.state(),
                g.generation_id(),
                g.leader_id().map(str::to_owned),
                g.protocol_name().map(str::to_owned),
                members,
            )
        };
        assert_eq!(summary(rebuilt), summary(live));
    }

    fn check_invariants(&mut self) {
        let Some(group) = self.h.coordinator.group(GROUP) else {
            return;
        };
        let members = group.members();
        match group.leader_id() {
            Some(leader) => assert!(members.contains_key(leader), "the leader is a member"),
            None => assert!(members.is_empty(), "a group with members has a leader"),
        }
        assert!(
            group.generation_id() >= self.last_generation,
            "generations never go back"
        );
        self.last_generation = group.generation_id();
        match group.state() {
            GroupState::Empty => assert!(members.is_empty(), "Empty groups have no members"),
            GroupState::Stable => assert!(
                members.values().all(|m| !m.assignment.is_empty()),
                "every Stable member has an assignment"
            ),
            GroupState::CompletingRebalance => assert!(!members.is_empty()),
            GroupState::PreparingRebalance | GroupState::Dead => {}
        }
        assert!(group.join_waiters.keys().all(|id| members.contains_key(id)));
        assert!(group.sync_waiters.keys().all(|id| members.contains_key(id)));
        assert!(
            group
                .pending_members
                .keys()
                .all(|id| !members.contains_key(id))
        );
        let by_instance: BTreeMap<&String, &String> = group.static_members.iter().collect();
        for (instance, member_id) in by_instance {
            let member = members
                .get(member_id)
                .expect("static members map to members");
            assert_eq!(member.group_instance_id.as_ref(), Some(instance));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_request_sequences_keep_the_group_invariants(ops in proptest::collection::vec(op(), 1..80), delay in prop_oneof![Just(0), Just(3_000)]) {
        let config = GroupConfig { group_initial_rebalance_delay_ms: delay, ..GroupConfig::default() };
        let mut sim = Sim {
            h: Harness::with_config(config),
            clients: vec![Client::default(); CLIENTS],
            answered: BTreeSet::new(),
            last_generation: 0,
            appends_failed: false,
        };
        for op in ops {
            sim.apply(op);
            sim.check_invariants();
            if !sim.appends_failed {
                sim.check_replay();
            }
        }
    }
}
