//! Per-partition fetch state (sans-IO): where each assigned partition will be
//! read next, whether that is still to be looked up, paused, or has a fetch in
//! flight. The consumer's shell asks it what to fetch and tells it what happened.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{ConsumerError, Result};
use crate::partition::TopicPartition;

/// Where a partition's next read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// Ask the group coordinator for the committed offset.
    AwaitingCommitted,
    /// No usable offset: apply `auto.offset.reset`.
    AwaitingReset,
    /// `seek_to_beginning`: look up the log start offset on the next `poll`.
    AwaitingEarliest,
    /// `seek_to_end`: look up the log end offset on the next `poll`.
    AwaitingLatest,
    /// The next offset to return.
    At(i64),
}

#[derive(Debug, Clone)]
struct PartitionState {
    position: Position,
    paused: bool,
    in_flight: bool,
}

/// The assigned partitions and their positions.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    partitions: BTreeMap<TopicPartition, PartitionState>,
}

impl Positions {
    /// Adds `partitions` starting at `start`; partitions already assigned keep their state.
    pub(crate) fn add(&mut self, partitions: &[TopicPartition], start: Position) {
        for tp in partitions {
            self.partitions.entry(tp.clone()).or_insert(PartitionState {
                position: start,
                paused: false,
                in_flight: false,
            });
        }
    }

    /// Forgets `partitions`.
    pub(crate) fn remove(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.partitions.remove(tp);
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.partitions.clear();
    }

    /// The assigned partitions, sorted.
    pub(crate) fn assigned(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    /// Whether `tp` is assigned.
    pub(crate) fn is_assigned(&self, tp: &TopicPartition) -> bool {
        self.partitions.contains_key(tp)
    }

    /// The next offset to return for `tp`, once known.
    pub(crate) fn position(&self, tp: &TopicPartition) -> Option<i64> {
        match self.partitions.get(tp)?.position {
            Position::At(offset) => Some(offset),
            _ => None,
        }
    }

    fn state(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.partitions
            .get_mut(tp)
            .ok_or_else(|| ConsumerError::NotAssigned(tp.clone()))
    }

    /// Moves `tp` to `position` (a seek, a lookup result or consumed records).
    ///
    /// # Errors
    /// [`ConsumerError::NotAssigned`].
    pub(crate) fn set(&mut self, tp: &TopicPartition, position: Position) -> Result<()> {
        self.state(tp)?.position = position;
        Ok(())
    }

    /// Moves `tp` to `position` if it is still assigned: for answers (lookups,
    /// fetches) that may arrive after a partition was revoked, when there is
    /// nothing left to update.
    pub(crate) fn update_if_assigned(&mut self, tp: &TopicPartition, position: Position) {
        if let Some(state) = self.partitions.get_mut(tp) {
            state.position = position;
        }
    }

    /// Stops or restarts fetching `tp`.
    ///
    /// # Errors
    /// [`ConsumerError::NotAssigned`].
    pub(crate) fn set_paused(&mut self, tp: &TopicPartition, paused: bool) -> Result<()> {
        self.state(tp)?.paused = paused;
        Ok(())
    }

    /// Whether `tp` is paused.
    pub(crate) fn is_paused(&self, tp: &TopicPartition) -> bool {
        self.partitions.get(tp).is_some_and(|s| s.paused)
    }

    /// Records that a fetch for `tp` was sent or answered.
    pub(crate) fn set_in_flight(&mut self, tp: &TopicPartition, in_flight: bool) {
        if let Some(state) = self.partitions.get_mut(tp) {
            state.in_flight = in_flight;
        }
    }

    /// Partitions whose position is still `wanted`.
    pub(crate) fn awaiting(&self, wanted: Position) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, state)| state.position == wanted)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Partitions to fetch now, with their offsets: position known, not paused,
    /// no fetch in flight and no fetched data still buffered.
    pub(crate) fn fetchable(
        &self,
        buffered: &BTreeSet<TopicPartition>,
    ) -> Vec<(TopicPartition, i64)> {
        self.partitions
            .iter()
            .filter(|(tp, state)| !state.paused && !state.in_flight && !buffered.contains(*tp))
            .filter_map(|(tp, state)| match state.position {
                Position::At(offset) => Some((tp.clone(), offset)),
                _ => None,
            })
            .collect()
    }

    /// The positions to commit: every partition whose position is known.
    pub(crate) fn consumed(&self) -> Vec<(TopicPartition, i64)> {
        self.partitions
            .iter()
            .filter_map(|(tp, state)| match state.position {
                Position::At(offset) => Some((tp.clone(), offset)),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn only_partitions_with_known_positions_are_fetchable() {
        let mut positions = Positions::default();
        positions.add(&[tp(0), tp(1)], Position::AwaitingCommitted);
        assert!(positions.set(&tp(1), Position::At(5)).is_ok());
        assert_eq!(positions.fetchable(&BTreeSet::new()), vec![(tp(1), 5)]);
    }

    #[test]
    fn paused_in_flight_and_buffered_partitions_are_not_fetched() {
        let mut positions = Positions::default();
        positions.add(&[tp(0), tp(1), tp(2), tp(3)], Position::At(0));
        assert!(positions.set_paused(&tp(0), true).is_ok());
        positions.set_in_flight(&tp(1), true);
        let buffered = BTreeSet::from([tp(2)]);
        assert_eq!(positions.fetchable(&buffered), vec![(tp(3), 0)]);
    }

    #[test]
    fn re_adding_an_assigned_partition_keeps_its_position() {
        let mut positions = Positions::default();
        positions.add(&[tp(0)], Position::At(9));
        positions.add(&[tp(0)], Position::AwaitingCommitted);
        assert_eq!(positions.position(&tp(0)), Some(9));
    }

    #[test]
    fn a_pending_seek_to_the_log_bounds_has_no_position_and_is_not_fetched() {
        let mut positions = Positions::default();
        positions.add(&[tp(0), tp(1)], Position::At(7));
        assert!(positions.set(&tp(0), Position::AwaitingEarliest).is_ok());
        assert!(positions.set(&tp(1), Position::AwaitingLatest).is_ok());
        assert_eq!(positions.position(&tp(0)), None);
        assert!(positions.fetchable(&BTreeSet::new()).is_empty());
        assert_eq!(positions.awaiting(Position::AwaitingLatest), vec![tp(1)]);
    }

    #[test]
    fn seeking_an_unassigned_partition_is_an_error() {
        let mut positions = Positions::default();
        assert!(positions.set(&tp(0), Position::At(1)).is_err());
    }
}
