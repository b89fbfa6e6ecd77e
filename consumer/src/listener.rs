//! Rebalance callbacks: how the application learns which partitions it gains
//! and loses, to flush state or commit before another member takes over.

use crate::partition::TopicPartition;

/// Called by `poll` during a rebalance, on the application's task.
///
/// With an eager assignor every partition is revoked before each rebalance;
/// with `cooperative-sticky` only the partitions that move are revoked and
/// only new ones are assigned. Offsets of consumed records are committed
/// before `on_partitions_revoked` when `enable_auto_commit` is on.
pub trait RebalanceListener: Send + Sync {
    /// These partitions are about to go to another member.
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]);

    /// These partitions are now this member's (positions are looked up next).
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]);

    /// These partitions were already given to others (our membership expired):
    /// their offsets could not be committed. Defaults to `on_partitions_revoked`.
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(partitions);
    }
}

/// The listener used when the application sets none.
#[derive(Debug, Default)]
pub(crate) struct NoopListener;

impl RebalanceListener for NoopListener {
    fn on_partitions_revoked(&mut self, _partitions: &[TopicPartition]) {}
    fn on_partitions_assigned(&mut self, _partitions: &[TopicPartition]) {}
}
