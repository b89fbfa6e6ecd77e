//! The arithmetic behind group offsets, kept free of I/O: consumer lag and
//! the target offset of a reset.

use crate::admin::types::OffsetReset;

/// How far a group is behind on a partition: the log end offset minus the
/// committed offset, never negative (a commit can be ahead of a truncated log).
/// `None` when either side is unknown.
pub fn lag(committed_offset: Option<i64>, log_end_offset: Option<i64>) -> Option<i64> {
    Some((log_end_offset? - committed_offset?).max(0))
}

/// What is known about one partition when planning a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The log start offset.
    pub earliest: i64,
    /// The log end offset.
    pub latest: i64,
    /// The group's committed offset, if any.
    pub committed: Option<i64>,
    /// The offset ListOffsets found for the reset's timestamp (`-1`: none).
    pub at_timestamp: Option<i64>,
}

/// The offset a reset commits for one partition, clamped into
/// `[earliest, latest]` as kafka-consumer-groups does. A shift from no
/// committed offset starts at the log end; a timestamp newer than every
/// record resets to the log end.
pub fn reset_target(reset: OffsetReset, offsets: PartitionOffsets) -> i64 {
    let wanted = match reset {
        OffsetReset::Earliest => offsets.earliest,
        OffsetReset::Latest => offsets.latest,
        OffsetReset::Offset(offset) => offset,
        OffsetReset::Timestamp(_) => offsets
            .at_timestamp
            .filter(|offset| *offset >= 0)
            .unwrap_or(offsets.latest),
        OffsetReset::ShiftBy(delta) => offsets
            .committed
            .unwrap_or(offsets.latest)
            .saturating_add(delta),
    };
    wanted.clamp(offsets.earliest, offsets.latest.max(offsets.earliest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFSETS: PartitionOffsets = PartitionOffsets {
        earliest: 10,
        latest: 100,
        committed: Some(40),
        at_timestamp: Some(55),
    };

    #[test]
    fn lag_is_log_end_minus_committed() {
        assert_eq!(lag(Some(40), Some(100)), Some(60));
        assert_eq!(lag(Some(100), Some(100)), Some(0));
    }

    #[test]
    fn lag_is_unknown_without_commit_or_log_end() {
        assert_eq!(lag(None, Some(100)), None);
        assert_eq!(lag(Some(3), None), None);
    }

    #[test]
    fn lag_is_never_negative() {
        assert_eq!(lag(Some(120), Some(100)), Some(0));
    }

    #[test]
    fn earliest_and_latest_pick_the_log_bounds() {
        assert_eq!(reset_target(OffsetReset::Earliest, OFFSETS), 10);
        assert_eq!(reset_target(OffsetReset::Latest, OFFSETS), 100);
    }

    #[test]
    fn explicit_offset_is_clamped_into_the_log() {
        assert_eq!(reset_target(OffsetReset::Offset(50), OFFSETS), 50);
        assert_eq!(reset_target(OffsetReset::Offset(5), OFFSETS), 10);
        assert_eq!(reset_target(OffsetReset::Offset(500), OFFSETS), 100);
    }

    #[test]
    fn shift_moves_from_the_committed_offset_and_is_clamped() {
        assert_eq!(reset_target(OffsetReset::ShiftBy(-15), OFFSETS), 25);
        assert_eq!(reset_target(OffsetReset::ShiftBy(-1000), OFFSETS), 10);
        assert_eq!(reset_target(OffsetReset::ShiftBy(i64::MAX), OFFSETS), 100);
    }

    #[test]
    fn shift_without_commit_starts_at_the_log_end() {
        let uncommitted = PartitionOffsets {
            committed: None,
            ..OFFSETS
        };
        assert_eq!(reset_target(OffsetReset::ShiftBy(-30), uncommitted), 70);
    }

    #[test]
    fn timestamp_uses_the_found_offset_or_the_log_end() {
        assert_eq!(reset_target(OffsetReset::Timestamp(1), OFFSETS), 55);
        let none_found = PartitionOffsets {
            at_timestamp: Some(-1),
            ..OFFSETS
        };
        assert_eq!(reset_target(OffsetReset::Timestamp(1), none_found), 100);
    }
}
