//! Noticing that the subscribed topics changed shape (sans-IO): a topic
//! created after `subscribe`, or partitions added, calls for a rebalance so
//! the new partitions get an owner, as Kafka's consumer does.

use std::collections::BTreeMap;

/// Partition counts by topic; `None` for a topic that does not exist (yet).
pub(crate) type PartitionCounts = BTreeMap<String, Option<usize>>;

/// The partition counts the current assignment was made for, and when to look again.
#[derive(Debug, Clone)]
pub(crate) struct MetadataWatch {
    counts: PartitionCounts,
    next_check_ms: u64,
    /// Interval while every subscribed topic exists (`metadata.max.age.ms`).
    interval_ms: u64,
    /// Interval while some subscribed topic is missing, so its creation is
    /// noticed quickly (`retry.backoff.max.ms`).
    missing_interval_ms: u64,
}

impl MetadataWatch {
    /// A watch that checks first after `interval_ms`.
    pub(crate) fn new(interval_ms: u64, missing_interval_ms: u64) -> Self {
        MetadataWatch {
            counts: PartitionCounts::new(),
            next_check_ms: u64::MAX,
            interval_ms,
            missing_interval_ms,
        }
    }

    /// The counts as of a completed rebalance at `now_ms`.
    pub(crate) fn reset(&mut self, counts: PartitionCounts, now_ms: u64) {
        self.counts = counts;
        self.schedule(now_ms);
    }

    fn schedule(&mut self, now_ms: u64) {
        let missing = self.counts.values().any(Option::is_none);
        let interval = if missing {
            self.missing_interval_ms
        } else {
            self.interval_ms
        };
        self.next_check_ms = now_ms.saturating_add(interval);
    }

    /// Whether the caller should look up the counts now.
    pub(crate) fn is_due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_check_ms
    }

    /// Compares fresh `counts` with the snapshot; `true` means rebalance.
    pub(crate) fn changed(&mut self, counts: &PartitionCounts, now_ms: u64) -> bool {
        self.schedule(now_ms);
        *counts != self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(entries: &[(&str, Option<usize>)]) -> PartitionCounts {
        entries.iter().map(|(t, c)| ((*t).to_owned(), *c)).collect()
    }

    #[test]
    fn added_partitions_are_a_change() {
        let mut watch = MetadataWatch::new(1_000, 100);
        watch.reset(counts(&[("t", Some(3))]), 0);
        assert!(watch.changed(&counts(&[("t", Some(4))]), 1_000));
    }

    #[test]
    fn a_created_topic_is_a_change() {
        let mut watch = MetadataWatch::new(1_000, 100);
        watch.reset(counts(&[("t", None)]), 0);
        assert!(watch.changed(&counts(&[("t", Some(1))]), 100));
    }

    #[test]
    fn missing_topics_are_checked_sooner() {
        let mut watch = MetadataWatch::new(1_000, 100);
        watch.reset(counts(&[("t", None)]), 0);
        assert!(watch.is_due(100));
        watch.reset(counts(&[("t", Some(1))]), 0);
        assert!(!watch.is_due(100));
        assert!(watch.is_due(1_000));
    }

    #[test]
    fn same_counts_are_no_change() {
        let mut watch = MetadataWatch::new(1_000, 100);
        watch.reset(counts(&[("t", Some(2))]), 0);
        assert!(!watch.changed(&counts(&[("t", Some(2))]), 1_000));
    }
}
