//! The checker against hand-built histories: one planted violation per test,
//! a clean history, and generated clean histories (proptest).

use proptest::prelude::*;

use super::*;

/// Builds histories one event at a time (timestamps are the event's index).
#[derive(Debug, Default)]
struct History {
    events: Vec<Event>,
}

impl History {
    fn ts(&self) -> u64 {
        self.events.len() as u64
    }

    fn send(&mut self, producer: u32, seq: u64, partition: i32) -> &mut Self {
        let ts_ms = self.ts();
        self.events.push(Event::Send {
            ts_ms,
            producer,
            seq,
            partition,
        });
        self
    }

    fn ack(&mut self, producer: u32, seq: u64, partition: i32, offset: i64) -> &mut Self {
        let ts_ms = self.ts();
        self.events.push(Event::Ack {
            ts_ms,
            producer,
            seq,
            partition,
            offset,
        });
        self
    }

    /// A send acknowledged at `offset`.
    fn written(&mut self, producer: u32, seq: u64, partition: i32, offset: i64) -> &mut Self {
        self.send(producer, seq, partition)
            .ack(producer, seq, partition, offset)
    }

    fn assigned(&mut self, consumer: u32, partitions: &[i32]) -> &mut Self {
        let ts_ms = self.ts();
        self.events.push(Event::Assigned {
            ts_ms,
            consumer,
            partitions: partitions.to_vec(),
        });
        self
    }

    fn revoked(&mut self, consumer: u32, partitions: &[i32]) -> &mut Self {
        let ts_ms = self.ts();
        self.events.push(Event::Revoked {
            ts_ms,
            consumer,
            partitions: partitions.to_vec(),
        });
        self
    }

    fn consumed(&mut self, consumer: u32, partition: i32, offset: i64, value: &str) -> &mut Self {
        let ts_ms = self.ts();
        self.events.push(Event::Consumed {
            ts_ms,
            consumer,
            partition,
            offset,
            value: value.to_owned(),
        });
        self
    }

    fn committed(
        &mut self,
        consumer: u32,
        generation: i32,
        partition: i32,
        offset: i64,
    ) -> &mut Self {
        let ts_ms = self.ts();
        self.events.push(Event::Committed {
            ts_ms,
            consumer,
            generation,
            partition,
            offset,
        });
        self
    }

    fn final_read(&mut self, partition: i32, offset: i64, value: &str) -> &mut Self {
        let ts_ms = self.ts();
        self.events.push(Event::FinalRead {
            ts_ms,
            partition,
            offset,
            value: value.to_owned(),
        });
        self
    }

    fn verdict(&self) -> Verdict {
        check(&self.events)
    }
}

/// Two producers, two records each on partition 0, read by consumer 0 in
/// generation 1 and by the final read.
fn clean() -> History {
    let mut history = History::default();
    history
        .written(0, 0, 0, 0)
        .written(1, 0, 0, 1)
        .written(0, 1, 0, 2)
        .written(1, 1, 0, 3)
        .assigned(0, &[0])
        .consumed(0, 0, 0, "p0-s0")
        .consumed(0, 0, 1, "p1-s0")
        .committed(0, 1, 0, 2)
        .consumed(0, 0, 2, "p0-s1")
        .consumed(0, 0, 3, "p1-s1")
        .committed(0, 1, 0, 4)
        .revoked(0, &[0])
        .final_read(0, 0, "p0-s0")
        .final_read(0, 1, "p1-s0")
        .final_read(0, 2, "p0-s1")
        .final_read(0, 3, "p1-s1");
    history
}

/// Asserts that exactly `kind` was found, `count` times.
fn assert_only(verdict: &Verdict, kind: ViolationKind, count: u64) {
    assert_eq!(verdict.count(kind), count, "{verdict:#?}");
    for other in ViolationKind::ALL.into_iter().filter(|k| *k != kind) {
        assert_eq!(verdict.count(other), 0, "unexpected {other}: {verdict:#?}");
    }
    assert!(!verdict.is_clean());
}

#[test]
fn clean_history_passes_with_its_counts() {
    let verdict = clean().verdict();
    assert!(verdict.is_clean(), "{verdict:#?}");
    assert_eq!(
        (
            verdict.sent,
            verdict.acknowledged,
            verdict.consumed,
            verdict.final_reads
        ),
        (4, 4, 4, 4)
    );
    assert_eq!((verdict.commits, verdict.assignments), (2, 1));
}

#[test]
fn acknowledged_record_never_read_is_lost() {
    let mut history = clean();
    history.written(0, 2, 0, 4);
    let verdict = history.verdict();
    assert_only(&verdict, ViolationKind::Lost, 1);
    let example = &verdict.violations[&ViolationKind::Lost].examples[0];
    assert_eq!((example.partition, example.offset), (0, 4));
    assert_eq!(example.value, "p0-s2");
}

#[test]
fn acknowledged_record_read_at_another_offset_is_lost() {
    let mut history = History::default();
    history.written(0, 0, 0, 5).final_read(0, 0, "p0-s0");
    assert_only(&history.verdict(), ViolationKind::Lost, 1);
}

#[test]
fn record_read_at_two_offsets_is_duplicated() {
    let mut history = clean();
    history.final_read(0, 4, "p0-s1");
    let verdict = history.verdict();
    assert_only(&verdict, ViolationKind::Duplicated, 1);
    assert_eq!(
        verdict.violations[&ViolationKind::Duplicated].examples[0].offset,
        4
    );
}

#[test]
fn redelivery_at_the_same_offset_is_not_a_duplicate() {
    let mut history = clean();
    history
        .assigned(1, &[0])
        .consumed(1, 0, 3, "p1-s1")
        .revoked(1, &[0]);
    // Offset 3 is below the committed 4: that is the rebalance check's business.
    let verdict = history.verdict();
    assert_eq!(verdict.count(ViolationKind::Duplicated), 0, "{verdict:#?}");
}

#[test]
fn producer_seqs_decreasing_with_offset_are_reordered() {
    let mut history = History::default();
    history
        .send(0, 0, 0)
        .send(0, 1, 0)
        .ack(0, 1, 0, 0)
        .ack(0, 0, 0, 1)
        .final_read(0, 0, "p0-s1")
        .final_read(0, 1, "p0-s0");
    let verdict = history.verdict();
    assert_only(&verdict, ViolationKind::Reordered, 1);
    assert_eq!(
        verdict.violations[&ViolationKind::Reordered].examples[0].offset,
        1
    );
}

#[test]
fn different_producers_interleaving_is_not_reordering() {
    let mut history = History::default();
    history
        .written(1, 0, 0, 0)
        .written(0, 0, 0, 1)
        .final_read(0, 0, "p1-s0")
        .final_read(0, 1, "p0-s0");
    assert!(history.verdict().is_clean());
}

#[test]
fn record_never_sent_is_a_phantom() {
    let mut history = clean();
    history
        .final_read(0, 4, "p7-s0")
        .final_read(0, 5, "garbage");
    assert_only(&history.verdict(), ViolationKind::Phantom, 2);
}

#[test]
fn consumer_reading_backwards_within_an_assignment_is_an_offset_regression() {
    let mut history = clean();
    history
        .assigned(1, &[0])
        .consumed(1, 0, 4 - 1, "p1-s1")
        .consumed(1, 0, 2, "p0-s1");
    let verdict = history.verdict();
    assert_eq!(
        verdict.count(ViolationKind::OffsetRegression),
        1,
        "{verdict:#?}"
    );
}

#[test]
fn rereading_after_a_new_assignment_is_not_an_offset_regression() {
    let mut history = clean();
    history.assigned(0, &[0]).consumed(0, 0, 3, "p1-s1");
    let verdict = history.verdict();
    assert_eq!(
        verdict.count(ViolationKind::OffsetRegression),
        0,
        "{verdict:#?}"
    );
}

#[test]
fn commit_below_an_earlier_one_in_the_same_generation_is_a_commit_regression() {
    let mut history = clean();
    history.committed(0, 1, 0, 3);
    let verdict = history.verdict();
    assert_only(&verdict, ViolationKind::CommitRegression, 1);
    assert!(
        verdict.violations[&ViolationKind::CommitRegression].examples[0]
            .detail
            .contains("generation 1")
    );
}

#[test]
fn commit_below_one_of_an_earlier_generation_is_not_a_commit_regression() {
    let mut history = clean();
    history.committed(0, 2, 0, 3);
    assert!(history.verdict().is_clean());
}

#[test]
fn new_owner_starting_below_the_committed_offset_consumed_before_committed() {
    let mut history = clean();
    history.assigned(1, &[0]).consumed(1, 0, 1, "p1-s0");
    let verdict = history.verdict();
    assert_only(&verdict, ViolationKind::ConsumedBeforeCommitted, 1);
    let example = &verdict.violations[&ViolationKind::ConsumedBeforeCommitted].examples[0];
    assert_eq!((example.partition, example.offset), (0, 1));
}

#[test]
fn new_owner_rereading_from_the_committed_offset_is_the_at_least_once_window() {
    let mut history = History::default();
    history
        .written(0, 0, 0, 0)
        .written(0, 1, 0, 1)
        .assigned(0, &[0])
        .consumed(0, 0, 0, "p0-s0")
        .committed(0, 1, 0, 1)
        .consumed(0, 0, 1, "p0-s1")
        .revoked(0, &[0])
        .assigned(1, &[0])
        .consumed(1, 0, 1, "p0-s1");
    assert!(history.verdict().is_clean());
}

#[test]
fn records_an_earlier_run_left_below_the_start_offsets_are_not_judged() {
    let mut history = History::default();
    history.events.push(Event::Begin {
        ts_ms: 0,
        topic: "t".to_owned(),
        start_offsets: vec![2],
    });
    history
        .written(0, 0, 0, 2)
        .final_read(0, 0, "p0-s0")
        .final_read(0, 1, "leftover")
        .final_read(0, 2, "p0-s0");
    let verdict = history.verdict();
    assert!(verdict.is_clean(), "{verdict:#?}");
    assert_eq!(verdict.final_reads, 1);
}

#[test]
fn examples_are_bounded_while_counts_are_not() {
    let mut history = History::default();
    for seq in 0..20 {
        history.written(0, seq, 0, i64::try_from(seq).unwrap_or(0));
    }
    let verdict = history.verdict();
    assert_eq!(verdict.count(ViolationKind::Lost), 20);
    assert_eq!(
        verdict.violations[&ViolationKind::Lost].examples.len(),
        EXAMPLES_PER_KIND
    );
}

#[test]
fn unread_acknowledged_counts_down_as_records_are_read() {
    let mut checker = Checker::new();
    let mut history = History::default();
    history.written(0, 0, 0, 0).written(0, 1, 1, 0);
    for event in &history.events {
        checker.observe(event);
    }
    assert_eq!(checker.unread_acknowledged(), 2);
    checker.observe(&Event::Consumed {
        ts_ms: 9,
        consumer: 0,
        partition: 1,
        offset: 0,
        value: "p0-s1".to_owned(),
    });
    assert_eq!(checker.unread_acknowledged(), 1);
}

/// One round of the generated group: how many records each partition's
/// owner reads, and whether it commits after reading them.
#[derive(Debug, Clone)]
struct Round {
    reads: Vec<usize>,
    commit: bool,
}

/// A clean history: `sends` (producer, partition) in order, written at dense
/// offsets, then one consumer per round owning every partition, starting at
/// the committed offset, then a final read of every partition.
fn generated(sends: &[(u32, i32)], rounds: &[Round], partitions: i32) -> History {
    let mut history = History::default();
    let mut next_seq = [0u64; 3];
    let mut log: Vec<Vec<String>> = vec![Vec::new(); partitions as usize];
    for &(producer, partition) in sends {
        let seq = next_seq[producer as usize];
        next_seq[producer as usize] += 1;
        let offset = log[partition as usize].len() as i64;
        history.written(producer, seq, partition, offset);
        log[partition as usize].push(RecordValue { producer, seq }.to_string());
    }
    let all: Vec<i32> = (0..partitions).collect();
    let mut committed = vec![0i64; partitions as usize];
    for (round, Round { reads, commit }) in rounds.iter().enumerate() {
        let consumer = round as u32;
        let generation = round as i32 + 1;
        history.assigned(consumer, &all);
        for partition in 0..partitions {
            let records = &log[partition as usize];
            let start = committed[partition as usize];
            let wanted = reads[partition as usize % reads.len()];
            let end = (start + wanted as i64).min(records.len() as i64);
            for offset in start..end {
                history.consumed(consumer, partition, offset, &records[offset as usize]);
            }
            if *commit && end > start {
                history.committed(consumer, generation, partition, end);
                committed[partition as usize] = end;
            }
        }
        history.revoked(consumer, &all);
    }
    for (partition, records) in log.iter().enumerate() {
        for (offset, value) in records.iter().enumerate() {
            history.final_read(partition as i32, offset as i64, value);
        }
    }
    history
}

fn round() -> impl Strategy<Value = Round> {
    (prop::collection::vec(0usize..8, 1..4), any::<bool>())
        .prop_map(|(reads, commit)| Round { reads, commit })
}

proptest! {
    #[test]
    fn generated_clean_history_never_reports_a_violation(
        partitions in 1i32..4,
        sends in prop::collection::vec((0u32..3, 0i32..4), 0..60),
        rounds in prop::collection::vec(round(), 0..6),
    ) {
        let sends: Vec<_> = sends.into_iter().map(|(p, part)| (p, part % partitions)).collect();
        let history = generated(&sends, &rounds, partitions);
        let verdict = history.verdict();
        prop_assert!(verdict.is_clean(), "{:#?}", verdict);
        prop_assert_eq!(verdict.acknowledged, sends.len() as u64);
        prop_assert_eq!(verdict.final_reads, sends.len() as u64);
    }
}
