//! Rebalances as the consumer sees them: giving up partitions (committing
//! first when auto commit is on, then the listener), joining, taking the new
//! assignment, and asking for a rebalance when subscribed topics change.

use sluice_protocol::ErrorCode;

use super::Consumer;
use crate::assignor::RebalanceProtocol;
use crate::error::{ConsumerError, Result};
use crate::group::{lock, now_ms};
use crate::membership::NO_GENERATION;
use crate::metadata_watch::PartitionCounts;
use crate::partition::TopicPartition;
use crate::positions::Position;

impl Consumer {
    /// Runs a rebalance when the group asked for one (or we never joined).
    pub(super) async fn maybe_rebalance(&mut self) -> Result<()> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        let (needs_rejoin, fenced, lost) = {
            let mut membership = lock(&group.membership);
            membership.on_poll(now_ms(group.start));
            (
                membership.needs_rejoin(),
                membership.fenced,
                membership.generation == NO_GENERATION,
            )
        };
        if fenced {
            return Err(ConsumerError::FencedInstanceId(
                self.config.group_instance_id.clone().unwrap_or_default(),
            ));
        }
        if !needs_rejoin {
            return self.watch_metadata().await;
        }
        let protocol = group.protocol();
        let owned = self.positions.assigned();
        if protocol == RebalanceProtocol::Eager || lost {
            self.give_up(&owned, lost).await;
        }
        let owned = self.positions.assigned();
        let Some(group) = &self.group else {
            return Ok(());
        };
        let assigned = group.join_and_sync(&owned).await?;
        let counts = self.partition_counts().await;
        let Some(group) = &mut self.group else {
            return Ok(());
        };
        group
            .metadata_watch
            .reset(counts.unwrap_or_default(), now_ms(group.start));
        let revoked: Vec<TopicPartition> = owned
            .iter()
            .filter(|tp| !assigned.contains(tp))
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = assigned
            .iter()
            .filter(|tp| !owned.contains(tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            // Cooperative: give up what moves, then rejoin so it can be handed over (KIP-429).
            self.give_up(&revoked, false).await;
            if let Some(group) = &self.group {
                lock(&group.membership).request_rejoin();
            }
        }
        self.positions.add(&added, Position::AwaitingCommitted);
        self.listener.on_partitions_assigned(&added);
        Ok(())
    }

    /// Asks for a rebalance when a subscribed topic appeared or grew since
    /// the last one (checked every `metadata_max_age_ms`, sooner while a
    /// subscribed topic is missing).
    async fn watch_metadata(&mut self) -> Result<()> {
        let due = self
            .group
            .as_ref()
            .is_some_and(|g| g.metadata_watch.is_due(now_ms(g.start)));
        if !due {
            return Ok(());
        }
        let counts = self.partition_counts().await;
        if let Some(group) = &mut self.group
            && let Some(counts) = counts
            && group.metadata_watch.changed(&counts, now_ms(group.start))
        {
            tracing::info!(group = %group.client.group_id, "subscribed topics changed; rebalancing");
            lock(&group.membership).request_rejoin();
        }
        Ok(())
    }

    /// The subscribed topics' partition counts, fresh from a broker; `None`
    /// when no broker answers.
    async fn partition_counts(&self) -> Option<PartitionCounts> {
        let group = self.group.as_ref()?;
        match self.client.refresh_metadata(Some(&group.topics)).await {
            Ok(metadata) => group
                .topics
                .iter()
                .map(|topic| {
                    let count = metadata
                        .topics
                        .iter()
                        .find(|t| &t.name == topic && t.error == ErrorCode::None)
                        .map(|t| t.partitions.len());
                    (topic.clone(), count)
                })
                .collect::<PartitionCounts>()
                .into(),
            Err(error) => {
                tracing::debug!(%error, "metadata refresh for subscribed topics failed");
                None
            }
        }
    }

    /// Commits (when auto commit is on and the generation is still ours),
    /// tells the listener, and forgets `partitions`.
    pub(super) async fn give_up(&mut self, partitions: &[TopicPartition], lost: bool) {
        if partitions.is_empty() {
            return;
        }
        if lost {
            self.listener.on_partitions_lost(partitions);
        } else {
            if self.config.enable_auto_commit {
                let offsets: Vec<(TopicPartition, i64)> = self
                    .positions
                    .consumed()
                    .into_iter()
                    .filter(|(tp, _)| partitions.contains(tp))
                    .collect();
                if let Err(error) = self.commit_offsets_sync(&offsets).await {
                    tracing::warn!(%error, "commit before revocation failed");
                }
            }
            self.listener.on_partitions_revoked(partitions);
        }
        self.positions.remove(partitions);
        self.buffer.retain_assigned(&self.positions);
    }
}
