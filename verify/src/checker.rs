//! The checker (sans-IO): [`Event`]s in, in history order, a [`Verdict`] out.
//!
//! What counts as a violation:
//! - **lost**: acknowledged at (partition, offset) but never read there, by
//!   the group or by the final independent read;
//! - **duplicated**: one record (producer, seq) read at two positions;
//! - **reordered**: within a partition, one producer's sequence numbers not
//!   increasing with the offset;
//! - **phantom**: a record read that was never sent;
//! - **offset regression**: a consumer reading a partition at an offset not
//!   above the one it read before, within one assignment;
//! - **commit regression**: a committed offset below an earlier commit of
//!   the same partition in the same generation;
//! - **consumed before committed**: after a rebalance, the new owner's first
//!   record of a partition is below that partition's last committed offset
//!   (records at or above it are the at-least-once window, not a violation).
//!
//! Reads from every source are merged by position, so duplicates and order
//! are judged on what the log holds, not on how often the group re-read it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::{Event, RecordValue};

/// How many examples a verdict keeps per violation kind.
pub const EXAMPLES_PER_KIND: usize = 5;

/// A kind of violation the checker looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Acknowledged, never read at its position.
    Lost,
    /// The same record at two positions.
    Duplicated,
    /// One producer's records out of order within a partition.
    Reordered,
    /// Read, never sent.
    Phantom,
    /// A consumer's reads going backwards within one assignment.
    OffsetRegression,
    /// A committed offset going backwards within a generation.
    CommitRegression,
    /// A new owner starting below the committed offset after a rebalance.
    ConsumedBeforeCommitted,
}

impl ViolationKind {
    /// Every kind, in report order.
    pub const ALL: [ViolationKind; 7] = [
        ViolationKind::Lost,
        ViolationKind::Duplicated,
        ViolationKind::Reordered,
        ViolationKind::Phantom,
        ViolationKind::OffsetRegression,
        ViolationKind::CommitRegression,
        ViolationKind::ConsumedBeforeCommitted,
    ];

    /// The name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::Lost => "lost",
            ViolationKind::Duplicated => "duplicated",
            ViolationKind::Reordered => "reordered",
            ViolationKind::Phantom => "phantom",
            ViolationKind::OffsetRegression => "offset_regression",
            ViolationKind::CommitRegression => "commit_regression",
            ViolationKind::ConsumedBeforeCommitted => "consumed_before_committed",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One instance of a violation, enough to find it in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The partition.
    pub partition: i32,
    /// The offset concerned.
    pub offset: i64,
    /// The record value concerned (empty for commits).
    pub value: String,
    /// What was wrong, in words.
    pub detail: String,
}

/// The count of one kind of violation and its first examples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violations {
    /// How many were found.
    pub count: u64,
    /// The first [`EXAMPLES_PER_KIND`] of them.
    pub examples: Vec<Example>,
}

/// What the history shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Records sent.
    pub sent: u64,
    /// Records acknowledged.
    pub acknowledged: u64,
    /// Sends that failed (indeterminate: written or not).
    pub send_failures: u64,
    /// Records returned to group members (re-deliveries included).
    pub consumed: u64,
    /// Records seen by the final independent read.
    pub final_reads: u64,
    /// Offsets the coordinator accepted.
    pub commits: u64,
    /// Assignments handed to consumers (each rebalance gives one per member).
    pub assignments: u64,
    /// Violations found, by kind (only kinds with at least one).
    pub violations: BTreeMap<ViolationKind, Violations>,
}

impl Verdict {
    /// True when nothing was violated.
    pub fn is_clean(&self) -> bool {
        self.violations.values().all(|found| found.count == 0)
    }

    /// How many violations of `kind` were found.
    pub fn count(&self, kind: ViolationKind) -> u64 {
        self.violations.get(&kind).map_or(0, |found| found.count)
    }

    fn record(&mut self, kind: ViolationKind, example: Example) {
        let found = self.violations.entry(kind).or_default();
        found.count += 1;
        if found.examples.len() < EXAMPLES_PER_KIND {
            found.examples.push(example);
        }
    }
}

/// A consumer and a partition.
type Ownership = (u32, i32);

/// Feeds on events in history order; [`Checker::verdict`] judges them.
#[derive(Debug, Default)]
pub struct Checker {
    counts: Verdict,
    sent: HashSet<RecordValue>,
    /// Acknowledged records: where the cluster said each was written.
    acked: Vec<(RecordValue, i32, i64)>,
    /// Every value read at each position, by any reader.
    log: BTreeMap<(i32, i64), Vec<String>>,
    /// Acknowledged positions no reader has seen yet (for the drain).
    unread_acked: HashSet<(i32, i64)>,
    /// Per consumer and partition, the last offset read in the current assignment.
    last_read: HashMap<Ownership, i64>,
    /// Partitions newly assigned whose first record is still to come.
    awaiting_first_read: HashSet<Ownership>,
    /// The last committed offset of each partition.
    last_committed: HashMap<i32, i64>,
    /// The highest committed offset of each partition in each generation.
    committed_in_generation: HashMap<(i32, i32), i64>,
    /// Violations found while feeding (the group checks).
    found: Verdict,
    /// Per partition index, the first offset this run wrote (see [`Event::Begin`]).
    start_offsets: Vec<i64>,
}

impl Checker {
    /// A checker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next event of the history.
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::Begin { start_offsets, .. } => {
                self.start_offsets = start_offsets.clone();
            }
            Event::Send { producer, seq, .. } => {
                self.counts.sent += 1;
                self.sent.insert(RecordValue {
                    producer: *producer,
                    seq: *seq,
                });
            }
            Event::Ack {
                producer,
                seq,
                partition,
                offset,
                ..
            } => self.on_ack(*producer, *seq, *partition, *offset),
            Event::SendFailed { .. } => self.counts.send_failures += 1,
            Event::Assigned {
                consumer,
                partitions,
                ..
            } => self.on_assigned(*consumer, partitions),
            Event::Revoked {
                consumer,
                partitions,
                ..
            } => {
                for partition in partitions {
                    self.last_read.remove(&(*consumer, *partition));
                    self.awaiting_first_read.remove(&(*consumer, *partition));
                }
            }
            Event::Consumed {
                consumer,
                partition,
                offset,
                value,
                ..
            } if !self.before_the_run(*partition, *offset) => {
                self.on_consumed(*consumer, *partition, *offset, value);
            }
            Event::Committed {
                consumer,
                generation,
                partition,
                offset,
                ..
            } => self.on_committed(*consumer, *generation, *partition, *offset),
            Event::FinalRead {
                partition,
                offset,
                value,
                ..
            } if !self.before_the_run(*partition, *offset) => {
                self.counts.final_reads += 1;
                self.on_read(*partition, *offset, value);
            }
            Event::Consumed { .. } | Event::FinalRead { .. } => {}
        }
    }

    /// Acknowledged positions that no reader has seen yet: the drain waits
    /// for this to reach zero.
    pub fn unread_acknowledged(&self) -> usize {
        self.unread_acked.len()
    }

    fn on_ack(&mut self, producer: u32, seq: u64, partition: i32, offset: i64) {
        self.counts.acknowledged += 1;
        self.acked
            .push((RecordValue { producer, seq }, partition, offset));
        if offset >= 0 && !self.log.contains_key(&(partition, offset)) {
            self.unread_acked.insert((partition, offset));
        }
    }

    fn on_assigned(&mut self, consumer: u32, partitions: &[i32]) {
        self.counts.assignments += 1;
        for partition in partitions {
            self.last_read.remove(&(consumer, *partition));
            self.awaiting_first_read.insert((consumer, *partition));
        }
    }

    /// Whether a read at this position is of an earlier run, not judged.
    fn before_the_run(&self, partition: i32, offset: i64) -> bool {
        usize::try_from(partition)
            .ok()
            .and_then(|index| self.start_offsets.get(index))
            .is_some_and(|start| offset < *start)
    }

    fn on_read(&mut self, partition: i32, offset: i64, value: &str) {
        self.unread_acked.remove(&(partition, offset));
        let seen = self.log.entry((partition, offset)).or_default();
        if !seen.iter().any(|known| known == value) {
            seen.push(value.to_owned());
        }
    }

    fn on_consumed(&mut self, consumer: u32, partition: i32, offset: i64, value: &str) {
        self.counts.consumed += 1;
        self.on_read(partition, offset, value);
        let owner = (consumer, partition);
        if self.awaiting_first_read.remove(&owner)
            && let Some(&committed) = self.last_committed.get(&partition)
            && offset < committed
        {
            self.found.record(
                ViolationKind::ConsumedBeforeCommitted,
                Example {
                    partition,
                    offset,
                    value: value.to_owned(),
                    detail: format!(
                        "consumer {consumer} started at {offset} after a rebalance, \
                         below the committed offset {committed}"
                    ),
                },
            );
        }
        if let Some(&previous) = self.last_read.get(&owner)
            && offset <= previous
        {
            self.found.record(
                ViolationKind::OffsetRegression,
                Example {
                    partition,
                    offset,
                    value: value.to_owned(),
                    detail: format!("consumer {consumer} read {offset} after {previous}"),
                },
            );
        }
        self.last_read.insert(owner, offset);
    }

    fn on_committed(&mut self, consumer: u32, generation: i32, partition: i32, offset: i64) {
        self.counts.commits += 1;
        self.last_committed.insert(partition, offset);
        let highest = self
            .committed_in_generation
            .entry((generation, partition))
            .or_insert(offset);
        if offset < *highest {
            self.found.record(
                ViolationKind::CommitRegression,
                Example {
                    partition,
                    offset,
                    value: String::new(),
                    detail: format!(
                        "consumer {consumer} committed {offset} after {highest} \
                         in generation {generation}"
                    ),
                },
            );
        } else {
            *highest = offset;
        }
    }

    /// Judges everything observed so far (the group checks were made while
    /// observing; loss, duplication, order and phantoms are judged now).
    pub fn verdict(&self) -> Verdict {
        let mut verdict = Verdict {
            violations: self.found.violations.clone(),
            ..self.counts.clone()
        };
        let positions = self.positions_by_value(&mut verdict);
        self.check_lost(&positions, &mut verdict);
        self.check_duplicated(&positions, &mut verdict);
        self.check_reordered(&mut verdict);
        verdict
    }

    /// Where each sent record was read; phantoms are recorded on the way.
    fn positions_by_value(&self, verdict: &mut Verdict) -> HashMap<RecordValue, Vec<(i32, i64)>> {
        let mut positions: HashMap<RecordValue, Vec<(i32, i64)>> = HashMap::new();
        for (&(partition, offset), values) in &self.log {
            for value in values {
                match value.parse::<RecordValue>() {
                    Ok(record) if self.sent.contains(&record) => {
                        positions
                            .entry(record)
                            .or_default()
                            .push((partition, offset));
                    }
                    _ => verdict.record(
                        ViolationKind::Phantom,
                        Example {
                            partition,
                            offset,
                            value: value.clone(),
                            detail: "read but never sent".to_owned(),
                        },
                    ),
                }
            }
        }
        positions
    }

    fn check_lost(&self, positions: &HashMap<RecordValue, Vec<(i32, i64)>>, verdict: &mut Verdict) {
        for &(record, partition, offset) in &self.acked {
            let read = positions.get(&record).is_some_and(|seen| {
                seen.iter()
                    .any(|&(p, o)| p == partition && (offset < 0 || o == offset))
            });
            if !read {
                verdict.record(
                    ViolationKind::Lost,
                    Example {
                        partition,
                        offset,
                        value: record.to_string(),
                        detail: "acknowledged, never read there".to_owned(),
                    },
                );
            }
        }
    }

    fn check_duplicated(
        &self,
        positions: &HashMap<RecordValue, Vec<(i32, i64)>>,
        verdict: &mut Verdict,
    ) {
        let mut duplicated: Vec<_> = positions
            .iter()
            .filter(|(_, seen)| seen.len() > 1)
            .collect();
        duplicated.sort();
        for (record, seen) in duplicated {
            for &(partition, offset) in &seen[1..] {
                verdict.record(
                    ViolationKind::Duplicated,
                    Example {
                        partition,
                        offset,
                        value: record.to_string(),
                        detail: format!("also at {}-{}", seen[0].0, seen[0].1),
                    },
                );
            }
        }
    }

    fn check_reordered(&self, verdict: &mut Verdict) {
        // Per partition and producer: the highest seq seen at lower offsets.
        let mut highest: HashMap<(i32, u32), u64> = HashMap::new();
        let mut counted: HashSet<RecordValue> = HashSet::new();
        for (&(partition, offset), values) in &self.log {
            for value in values {
                let Ok(record) = value.parse::<RecordValue>() else {
                    continue;
                };
                // A second copy is a duplicate, already counted as such.
                if !counted.insert(record) {
                    continue;
                }
                let before = highest
                    .entry((partition, record.producer))
                    .or_insert(record.seq);
                if record.seq < *before {
                    verdict.record(
                        ViolationKind::Reordered,
                        Example {
                            partition,
                            offset,
                            value: value.clone(),
                            detail: format!(
                                "producer {} seq {} after seq {} at a lower offset",
                                record.producer, record.seq, before
                            ),
                        },
                    );
                } else {
                    *before = record.seq;
                }
            }
        }
    }
}

/// Checks a whole history at once.
pub fn check<'a>(events: impl IntoIterator<Item = &'a Event>) -> Verdict {
    let mut checker = Checker::new();
    for event in events {
        checker.observe(event);
    }
    checker.verdict()
}

#[cfg(test)]
#[path = "checker_tests.rs"]
mod tests;
