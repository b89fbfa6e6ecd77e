//! The group protocol's async shell: the join/sync exchange of a rebalance
//! (running the assignor when we lead) and the heartbeat task. Decisions about
//! state live in [`crate::membership`]; this module does the I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_protocol::ErrorCode;
use tokio::task::JoinHandle;

use crate::assignor::{Assignor, MemberSubscription, RebalanceProtocol};
use crate::embedded::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};
use crate::error::{ConsumerError, Result};
use crate::group_client::{GroupClient, JoinOutcome};
use crate::membership::{HeartbeatAction, Membership};
use crate::metadata_watch::MetadataWatch;
use crate::partition::TopicPartition;

/// Locks the shared membership; no code panics while holding it, so a
/// poisoned lock still holds consistent state.
pub(crate) fn lock(membership: &Mutex<Membership>) -> MutexGuard<'_, Membership> {
    membership
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Milliseconds since `start`, the clock of [`Membership`].
pub(crate) fn now_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A subscribed member of a group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) client: GroupClient,
    pub(crate) membership: Arc<Mutex<Membership>>,
    pub(crate) assignors: Vec<Box<dyn Assignor>>,
    pub(crate) topics: Vec<String>,
    pub(crate) start: Instant,
    /// The subscribed topics' shape at the last rebalance.
    pub(crate) metadata_watch: MetadataWatch,
    heartbeat: JoinHandle<()>,
    retry_backoff: Duration,
    rebalance_deadline: Duration,
}

impl Drop for Group {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl Group {
    /// Starts the heartbeat task for a member that subscribes to `topics`.
    pub(crate) fn new(
        client: GroupClient,
        assignors: Vec<Box<dyn Assignor>>,
        topics: Vec<String>,
        membership: Membership,
        retry_backoff: Duration,
        rebalance_deadline: Duration,
        metadata_watch: MetadataWatch,
    ) -> Group {
        let start = Instant::now();
        let membership = Arc::new(Mutex::new(membership));
        let heartbeat = tokio::spawn(heartbeat_loop(client.clone(), membership.clone(), start));
        Group {
            client,
            membership,
            assignors,
            topics,
            start,
            metadata_watch,
            heartbeat,
            retry_backoff,
            rebalance_deadline,
        }
    }

    /// Eager unless every offered assignor is cooperative (Kafka's rule, so
    /// a group never mixes the two).
    pub(crate) fn protocol(&self) -> RebalanceProtocol {
        if self
            .assignors
            .iter()
            .all(|a| a.rebalance_protocol() == RebalanceProtocol::Cooperative)
        {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        }
    }

    /// `(generation, member id)` for commits.
    pub(crate) fn identity(&self) -> (i32, String) {
        let membership = lock(&self.membership);
        (membership.generation, membership.member_id.clone())
    }

    /// Joins and syncs until the coordinator hands out an assignment for a
    /// generation; `owned` goes in the subscription (cooperative protocol).
    ///
    /// # Errors
    /// Fatal group errors, or retriable ones past the rebalance deadline.
    pub(crate) async fn join_and_sync(
        &self,
        owned: &[TopicPartition],
    ) -> Result<Vec<TopicPartition>> {
        let started = Instant::now();
        loop {
            let (member_id, generation) = {
                let mut membership = lock(&self.membership);
                membership.on_join_started();
                (membership.member_id.clone(), membership.generation)
            };
            let protocols = self.protocols(owned, generation)?;
            let join = self.client.join(&member_id, protocols).await?;
            match join.code {
                ErrorCode::None => {
                    lock(&self.membership).on_joined(join.member_id.clone(), join.generation);
                    match self.sync(&join).await? {
                        Some(assignment) => {
                            lock(&self.membership).on_synced(now_ms(self.start));
                            tracing::info!(group = %self.client.group_id, generation = join.generation, partitions = assignment.len(), "joined group");
                            return Ok(assignment);
                        }
                        None => continue,
                    }
                }
                // KIP-394: the first join only obtains a member id.
                ErrorCode::MemberIdRequired => {
                    lock(&self.membership).on_joined(join.member_id, generation);
                    continue;
                }
                ErrorCode::UnknownMemberId => lock(&self.membership).reset(true),
                ErrorCode::FencedInstanceId => {
                    return Err(ConsumerError::FencedInstanceId(
                        self.client.group_instance_id.clone().unwrap_or_default(),
                    ));
                }
                ErrorCode::RebalanceInProgress
                | ErrorCode::IllegalGeneration
                | ErrorCode::CoordinatorLoadInProgress => {}
                code if code.is_retriable() => {}
                code => {
                    return Err(ConsumerError::Group {
                        group: self.client.group_id.clone(),
                        api: "JoinGroup",
                        code,
                    });
                }
            }
            if started.elapsed() > self.rebalance_deadline {
                return Err(ConsumerError::Group {
                    group: self.client.group_id.clone(),
                    api: "JoinGroup",
                    code: join.code,
                });
            }
            tokio::time::sleep(self.retry_backoff).await;
        }
    }

    fn protocols(
        &self,
        owned: &[TopicPartition],
        generation: i32,
    ) -> Result<Vec<(&'static str, Bytes)>> {
        let subscription = encode_subscription(&self.topics, owned, generation)?;
        Ok(self
            .assignors
            .iter()
            .map(|a| (a.name(), subscription.clone()))
            .collect())
    }

    /// SyncGroup for the generation `join` created; `None` when the group
    /// moved on and we must join again.
    async fn sync(&self, join: &JoinOutcome) -> Result<Option<Vec<TopicPartition>>> {
        let assignments = if join.leader == join.member_id {
            self.lead(join).await?
        } else {
            Vec::new()
        };
        let response = self
            .client
            .sync(
                join.generation,
                &join.member_id,
                join.protocol_name.as_deref(),
                assignments,
            )
            .await?;
        match ErrorCode::from_code(response.error_code) {
            ErrorCode::None => decode_assignment(response.assignment).map(Some),
            ErrorCode::UnknownMemberId => {
                lock(&self.membership).reset(true);
                Ok(None)
            }
            ErrorCode::FencedInstanceId => Err(ConsumerError::FencedInstanceId(
                self.client.group_instance_id.clone().unwrap_or_default(),
            )),
            ErrorCode::RebalanceInProgress | ErrorCode::IllegalGeneration => Ok(None),
            code if code.is_retriable() => Ok(None),
            code => Err(ConsumerError::Group {
                group: self.client.group_id.clone(),
                api: "SyncGroup",
                code,
            }),
        }
    }

    /// As leader: decodes every member's subscription, reads the topics'
    /// partition counts and runs the chosen assignor.
    async fn lead(&self, join: &JoinOutcome) -> Result<Vec<(String, Bytes)>> {
        let members = join
            .members
            .iter()
            .map(|(id, instance, metadata)| {
                decode_subscription(id, instance.as_deref(), metadata.clone())
            })
            .collect::<Result<Vec<MemberSubscription>>>()?;
        let topics: BTreeSet<String> = members
            .iter()
            .flat_map(|m| m.topics.iter().cloned())
            .collect();
        let topics: Vec<String> = topics.into_iter().collect();
        let metadata = self.client.client.refresh_metadata(Some(&topics)).await?;
        let counts: BTreeMap<String, i32> = metadata
            .topics
            .iter()
            .filter(|t| t.error == ErrorCode::None)
            .map(|t| {
                (
                    t.name.clone(),
                    i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
                )
            })
            .collect();
        let name = join.protocol_name.as_deref().unwrap_or_default();
        let assignor = self
            .assignors
            .iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                ConsumerError::Config(format!(
                    "coordinator chose assignor {name:?} we did not offer"
                ))
            })?;
        let assignment = assignor.assign(&counts, &members);
        tracing::debug!(group = %self.client.group_id, assignor = name, members = members.len(), "assigned partitions as leader");
        assignment
            .into_iter()
            .map(|(member, partitions)| Ok((member, encode_assignment(&partitions)?)))
            .collect()
    }

    /// Leaves the group (dynamic members only: a static member's absence
    /// should not move its partitions before the session times out, KIP-345).
    pub(crate) async fn leave(&self) {
        self.heartbeat.abort();
        let member_id = {
            let mut membership = lock(&self.membership);
            let member_id = membership.member_id.clone();
            membership.reset(true);
            member_id
        };
        if self.client.group_instance_id.is_some() || member_id.is_empty() {
            return;
        }
        if let Err(error) = self
            .client
            .leave(&member_id, "the consumer is closing")
            .await
        {
            tracing::warn!(group = %self.client.group_id, %error, "leaving the group failed");
        }
    }
}

/// Heartbeats on its own task so a slow application does not lose its
/// membership; leaves the group when `poll` stops for `max_poll_interval_ms`.
async fn heartbeat_loop(client: GroupClient, membership: Arc<Mutex<Membership>>, start: Instant) {
    loop {
        let action = lock(&membership).heartbeat_action(now_ms(start));
        match action {
            HeartbeatAction::Wait(ms) => tokio::time::sleep(Duration::from_millis(ms.max(1))).await,
            HeartbeatAction::Send => {
                let (generation, member_id) = {
                    let mut m = lock(&membership);
                    m.on_heartbeat_sent(now_ms(start));
                    (m.generation, m.member_id.clone())
                };
                match client.heartbeat(generation, &member_id).await {
                    Ok(code) => {
                        if code != ErrorCode::None {
                            tracing::debug!(group = %client.group_id, %code, "heartbeat answered");
                        }
                        lock(&membership).on_heartbeat_response(generation, code);
                    }
                    Err(error) => {
                        tracing::warn!(group = %client.group_id, %error, "heartbeat failed")
                    }
                }
            }
            HeartbeatAction::LeaveForPollTimeout => {
                tracing::warn!(group = %client.group_id, "poll not called within max.poll.interval.ms; leaving the group");
                let member_id = {
                    let mut m = lock(&membership);
                    let id = m.member_id.clone();
                    m.reset(client.group_instance_id.is_none());
                    id
                };
                if client.group_instance_id.is_none()
                    && let Err(error) = client
                        .leave(&member_id, "max.poll.interval.ms expired")
                        .await
                {
                    tracing::warn!(group = %client.group_id, %error, "leaving the group failed");
                }
            }
        }
    }
}
