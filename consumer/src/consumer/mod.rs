//! [`Consumer`]: the application's handle. It owns the positions and the
//! fetch buffer, runs rebalances inside `poll`, keeps fetches in flight while
//! the application processes records, and commits offsets.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_client::{Client, ClientConfig};
use sluice_protocol::ErrorCode;
use tokio::task::{JoinHandle, JoinSet};

use crate::assignor;
use crate::config::ConsumerConfig;
use crate::error::{ConsumerError, Result};
use crate::fetch_buffer::{DrainLimits, FetchBuffer};
use crate::fetcher::{self, FetchOutcome, FetchSettings};
use crate::group::{Group, lock};
use crate::group_client::GroupClient;
use crate::listener::{NoopListener, RebalanceListener};
use crate::membership::{Membership, NO_GENERATION};
use crate::metadata_watch::MetadataWatch;
use crate::partition::TopicPartition;
use crate::positions::{Position, Positions};
use crate::record::ConsumerRecord;

mod offsets;
mod rebalance;

/// A Kafka consumer: `subscribe` (group-managed) or `assign` (manual), then `poll`.
///
/// One task polls it (`poll` takes `&mut self`), as with Kafka's consumer.
/// Rebalances, position lookups and auto commits happen inside `poll`;
/// heartbeats run on their own task. Call [`Consumer::close`] when done:
/// dropping a subscribed consumer stops its heartbeats without leaving, so
/// its partitions move only after `session_timeout_ms`.
pub struct Consumer {
    config: ConsumerConfig,
    /// Connections for fetches and offset lookups.
    client: Client,
    /// Connections to the group coordinator, apart from fetches, so a long
    /// JoinGroup never queues behind (or in front of) a Fetch.
    group_client: Option<GroupClient>,
    group: Option<Group>,
    positions: Positions,
    buffer: FetchBuffer,
    fetches: JoinSet<FetchOutcome>,
    listener: Box<dyn RebalanceListener>,
    next_auto_commit: Instant,
    background_commits: JoinSet<Result<()>>,
    closed: bool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.config.group_id)
            .field("assigned", &self.positions.assigned())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Connects to the cluster (and, with a `group_id`, prepares the coordinator connection).
    ///
    /// # Errors
    /// [`ConsumerError::Config`] for bad settings; connection errors.
    pub async fn connect(config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let client = Client::connect(config.client.clone()).await?;
        let group_client = match &config.group_id {
            Some(group_id) => Some(GroupClient {
                client: Client::connect(coordinator_client_config(&config)).await?,
                group_id: group_id.clone(),
                group_instance_id: config.group_instance_id.clone(),
                session_timeout_ms: clamp_ms(config.session_timeout_ms),
                rebalance_timeout_ms: clamp_ms(config.max_poll_interval_ms),
            }),
            None => None,
        };
        Ok(Consumer {
            next_auto_commit: Instant::now()
                + Duration::from_millis(config.auto_commit_interval_ms),
            config,
            client,
            group_client,
            group: None,
            positions: Positions::default(),
            buffer: FetchBuffer::default(),
            fetches: JoinSet::new(),
            listener: Box::new(NoopListener),
            background_commits: JoinSet::new(),
            closed: false,
        })
    }

    /// Sets the callbacks run when partitions are assigned and revoked.
    pub fn set_rebalance_listener(&mut self, listener: impl RebalanceListener + 'static) {
        self.listener = Box::new(listener);
    }

    /// Joins the group and consumes `topics`, with partitions assigned by the
    /// group's leader. The first `poll` joins; subscribing again changes the
    /// topics and rebalances at the next `poll`.
    ///
    /// # Errors
    /// [`ConsumerError::NoGroup`] without a `group_id`; [`ConsumerError::Config`]
    /// for an unknown assignor.
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        let client = self.group_client.clone().ok_or(ConsumerError::NoGroup)?;
        if let Some(group) = &mut self.group {
            group.topics = topics.iter().map(|t| (*t).to_owned()).collect();
            lock(&group.membership).request_rejoin();
            return Ok(());
        }
        let assignors = self
            .config
            .partition_assignment_strategy
            .iter()
            .map(|name| assignor::by_name(name))
            .collect::<Result<Vec<_>>>()?;
        self.unassign();
        let membership = Membership::new(
            self.config.heartbeat_interval_ms,
            self.config.max_poll_interval_ms,
            0,
        );
        self.group = Some(Group::new(
            client,
            assignors,
            topics.iter().map(|t| (*t).to_owned()).collect(),
            membership,
            Duration::from_millis(self.config.client.retry_backoff_ms),
            Duration::from_millis(self.config.max_poll_interval_ms),
            MetadataWatch::new(
                self.config.client.metadata_max_age_ms,
                self.config.client.retry_backoff_max_ms,
            ),
        ));
        Ok(())
    }

    /// Consumes exactly `partitions`, without group membership. Positions
    /// start at the committed offsets when a `group_id` is set, else by
    /// `auto_offset_reset`.
    pub fn assign(&mut self, partitions: &[TopicPartition]) {
        self.group = None;
        self.unassign();
        let start = if self.group_client.is_some() {
            Position::AwaitingCommitted
        } else {
            Position::AwaitingReset
        };
        self.positions.add(partitions, start);
    }

    fn unassign(&mut self) {
        self.positions.clear();
        self.buffer.retain_assigned(&self.positions);
    }

    /// The partitions currently assigned.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.positions.assigned()
    }

    /// The offset of the next record `poll` returns for `partition`, once known.
    pub fn position(&self, partition: &TopicPartition) -> Option<i64> {
        self.positions.position(partition)
    }

    /// Makes the next `poll` read `partition` from `offset`.
    ///
    /// # Errors
    /// [`ConsumerError::NotAssigned`].
    pub fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<()> {
        self.positions.set(partition, Position::At(offset))
    }

    /// Stops returning and fetching `partitions` until [`Consumer::resume`]
    /// (flow control; the membership is unaffected).
    ///
    /// # Errors
    /// [`ConsumerError::NotAssigned`].
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        partitions
            .iter()
            .try_for_each(|tp| self.positions.set_paused(tp, true))
    }

    /// Resumes `partitions` paused by [`Consumer::pause`].
    ///
    /// # Errors
    /// [`ConsumerError::NotAssigned`].
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        partitions
            .iter()
            .try_for_each(|tp| self.positions.set_paused(tp, false))
    }

    /// Returns the next records (up to `max_poll_records`), waiting up to
    /// `timeout` for some; empty when none arrived. Runs a pending rebalance
    /// first, which may take longer than `timeout`.
    ///
    /// # Errors
    /// Fatal group errors, [`ConsumerError::NoOffset`] with
    /// `auto_offset_reset = none`, corrupt batches, and connection errors that
    /// outlived the client's retries.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        if self.closed {
            return Err(ConsumerError::Closed);
        }
        let deadline = Instant::now() + timeout;
        self.maybe_rebalance().await?;
        self.maybe_auto_commit();
        self.update_positions().await?;
        loop {
            while let Some(done) = self.fetches.try_join_next() {
                self.on_fetch_done(done)?;
            }
            let limits = self.drain_limits();
            let records =
                self.buffer
                    .drain(&mut self.positions, self.config.max_poll_records, limits)?;
            // Prefetch: ask for the next data now, while the application works.
            self.send_fetches().await;
            if !records.is_empty() {
                return Ok(records);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero()
                || self
                    .group
                    .as_ref()
                    .is_some_and(|g| lock(&g.membership).needs_rejoin())
            {
                return Ok(Vec::new());
            }
            if self.fetches.is_empty() {
                let pause =
                    remaining.min(Duration::from_millis(self.config.client.retry_backoff_ms));
                tokio::time::sleep(pause).await;
                self.update_positions().await?;
                continue;
            }
            match tokio::time::timeout(remaining, self.fetches.join_next()).await {
                Ok(Some(done)) => self.on_fetch_done(done)?,
                Ok(None) => {}
                Err(_elapsed) => return Ok(Vec::new()),
            }
        }
    }

    fn drain_limits(&self) -> DrainLimits {
        DrainLimits {
            max_decompressed_batch_bytes: self.config.max_decompressed_batch_bytes,
            check_crcs: self.config.check_crcs,
        }
    }

    /// Spawns one fetch per leader for the partitions with nothing buffered
    /// or in flight.
    async fn send_fetches(&mut self) {
        let fetchable = self.positions.fetchable(&self.buffer.partitions());
        if fetchable.is_empty() {
            return;
        }
        for (tp, _) in &fetchable {
            if let Err(error) = self.client.ensure_topic(&tp.topic).await {
                tracing::debug!(%error, topic = %tp.topic, "metadata refresh failed");
            }
        }
        let (leaders, leaderless) = fetcher::by_leader(&self.client, fetchable);
        if !leaderless.is_empty() {
            self.client.invalidate_metadata();
        }
        let settings = FetchSettings::from(&self.config);
        for (leader, partitions) in leaders {
            for (tp, _) in &partitions {
                self.positions.set_in_flight(tp, true);
            }
            self.fetches.spawn(fetcher::fetch(
                self.client.clone(),
                leader,
                settings,
                partitions,
            ));
        }
    }

    fn on_fetch_done(
        &mut self,
        done: std::result::Result<FetchOutcome, tokio::task::JoinError>,
    ) -> Result<()> {
        let outcome = match done {
            Ok(outcome) => outcome,
            Err(error) => {
                // Only a panic or abort gets here; forget all in-flight marks so nothing stalls.
                tracing::error!(%error, "fetch task failed");
                for tp in self.positions.assigned() {
                    self.positions.set_in_flight(&tp, false);
                }
                return Ok(());
            }
        };
        for (tp, _) in &outcome.requested {
            self.positions.set_in_flight(tp, false);
        }
        let fetched = match outcome.result {
            Ok(fetched) => fetched,
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "fetch failed; refreshing metadata"
                );
                self.client.invalidate_metadata();
                return Ok(());
            }
        };
        for partition in fetched {
            self.on_partition_fetched(partition);
        }
        Ok(())
    }

    fn on_partition_fetched(&mut self, fetched: fetcher::FetchedPartition) {
        let tp = fetched.partition;
        if self.positions.position(&tp) != Some(fetched.fetch_offset) {
            return; // seeked or revoked meanwhile
        }
        match fetched.error {
            ErrorCode::None if !fetched.records.is_empty() => {
                self.buffer.push(tp, fetched.fetch_offset, fetched.records);
            }
            ErrorCode::None => {}
            ErrorCode::OffsetOutOfRange => {
                tracing::info!(partition = %tp, offset = fetched.fetch_offset, "offset out of range; resetting");
                self.positions
                    .update_if_assigned(&tp, Position::AwaitingReset);
            }
            code => {
                tracing::debug!(partition = %tp, %code, "fetch error; refreshing metadata");
                self.client.invalidate_metadata();
            }
        }
    }

    /// Looks up committed offsets, applies `auto_offset_reset` where there
    /// are none, then resolves seeks to the log start or end.
    async fn update_positions(&mut self) -> Result<()> {
        let awaiting = self.positions.awaiting(Position::AwaitingCommitted);
        if !awaiting.is_empty() {
            let group = self.group_client.as_ref().ok_or(ConsumerError::NoGroup)?;
            for (tp, committed) in group.committed(&awaiting).await? {
                let position = committed.map_or(Position::AwaitingReset, Position::At);
                self.positions.update_if_assigned(&tp, position);
            }
            // Partitions the broker did not answer for have nothing committed.
            for tp in self.positions.awaiting(Position::AwaitingCommitted) {
                self.positions
                    .update_if_assigned(&tp, Position::AwaitingReset);
            }
        }
        self.apply_auto_offset_reset()?;
        self.resolve_log_bound_seeks().await
    }

    fn maybe_auto_commit(&mut self) {
        while let Some(done) = self.background_commits.try_join_next() {
            if let Ok(Err(error)) = done {
                tracing::warn!(%error, "background commit failed");
            }
        }
        if !self.config.enable_auto_commit
            || self.group_client.is_none()
            || Instant::now() < self.next_auto_commit
        {
            return;
        }
        self.next_auto_commit =
            Instant::now() + Duration::from_millis(self.config.auto_commit_interval_ms);
        let commit = self.commit_async();
        self.background_commits
            .spawn(async move { commit.await.unwrap_or(Ok(())) });
    }

    /// Commits the positions of every assigned partition (the offsets after
    /// the records `poll` returned) and waits for the answer.
    ///
    /// # Errors
    /// [`ConsumerError::CommitFailed`] (e.g. the group rebalanced: the
    /// records will be redelivered to the new owner), connection errors.
    pub async fn commit_sync(&self) -> Result<()> {
        self.commit_offsets_sync(&self.positions.consumed()).await
    }

    /// Commits `offsets` (the next offset to read, per partition) and waits.
    ///
    /// # Errors
    /// As [`Consumer::commit_sync`].
    pub async fn commit_offsets_sync(&self, offsets: &[(TopicPartition, i64)]) -> Result<()> {
        let group = self.group_client.as_ref().ok_or(ConsumerError::NoGroup)?;
        let (generation, member_id) = self
            .group
            .as_ref()
            .map_or((NO_GENERATION, String::new()), Group::identity);
        let result = group.commit(generation, &member_id, offsets).await;
        if let (Err(ConsumerError::CommitFailed { code, .. }), Some(g)) = (&result, &self.group)
            && matches!(
                code,
                ErrorCode::RebalanceInProgress
                    | ErrorCode::IllegalGeneration
                    | ErrorCode::UnknownMemberId
            )
        {
            lock(&g.membership).request_rejoin();
        }
        result
    }

    /// Commits the current positions in the background; await the handle for
    /// the outcome, or drop it.
    pub fn commit_async(&self) -> JoinHandle<Result<()>> {
        let offsets = self.positions.consumed();
        let group = self.group_client.clone();
        let (generation, member_id) = self
            .group
            .as_ref()
            .map_or((NO_GENERATION, String::new()), Group::identity);
        tokio::spawn(async move {
            let group = group.ok_or(ConsumerError::NoGroup)?;
            group.commit(generation, &member_id, &offsets).await
        })
    }

    /// The group generation this member last joined, which its commits carry;
    /// `None` without a group or before the first join.
    pub fn generation(&self) -> Option<i32> {
        self.group
            .as_ref()
            .map(|group| group.identity().0)
            .filter(|generation| *generation != NO_GENERATION)
    }

    /// The committed offsets of `partitions` in the group (`None`: nothing committed).
    ///
    /// # Errors
    /// [`ConsumerError::NoGroup`]; coordinator errors.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        let group = self.group_client.as_ref().ok_or(ConsumerError::NoGroup)?;
        group.committed(partitions).await
    }

    /// Commits (with auto commit on), revokes, leaves the group (unless
    /// static) and closes connections. Later calls fail with [`ConsumerError::Closed`].
    pub async fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.fetches.abort_all();
        if self.group.is_some() {
            let owned = self.positions.assigned();
            self.give_up(&owned, false).await;
            if let Some(group) = self.group.take() {
                group.leave().await;
            }
        } else if self.config.enable_auto_commit
            && self.group_client.is_some()
            && let Err(error) = self.commit_sync().await
        {
            tracing::warn!(%error, "final commit failed");
        }
        while self.background_commits.join_next().await.is_some() {}
        self.client.close();
        if let Some(group) = &self.group_client {
            group.client.close();
        }
    }
}

/// The coordinator connection's config: JoinGroup may be held by the broker
/// for the whole rebalance timeout, so its request timeout must exceed it
/// (as Kafka's client does, by 5 s).
fn coordinator_client_config(config: &ConsumerConfig) -> ClientConfig {
    let mut client = config.client.clone();
    client.request_timeout_ms = client
        .request_timeout_ms
        .max(config.max_poll_interval_ms + 5_000);
    client
}

fn clamp_ms(ms: u64) -> i32 {
    i32::try_from(ms).unwrap_or(i32::MAX)
}
