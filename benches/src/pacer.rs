//! Rate limiting for latency runs (sans-IO): when the next record is due.

use std::time::Duration;

/// Spreads records evenly over time at a fixed rate. It is given the time
/// since the run started and the records sent so far, and answers how long
/// to wait before the next one, so the caller owns the clock.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    records_per_sec: Option<f64>,
}

impl Pacer {
    /// A pacer for `records_per_sec` (`None`: as fast as possible).
    pub fn new(records_per_sec: Option<f64>) -> Pacer {
        Pacer {
            records_per_sec: records_per_sec.filter(|rate| *rate > 0.0),
        }
    }

    /// How many records are due `elapsed` after the start (record `n` is
    /// due at `n / rate`); `None` when unpaced. Lets a sender send a burst of
    /// due records with one clock reading.
    pub fn due_by(&self, elapsed: Duration) -> Option<u64> {
        self.records_per_sec
            .map(|rate| (elapsed.as_secs_f64() * rate).floor() as u64 + 1)
    }

    /// How long to wait, from `elapsed` after the start, before record
    /// number `sent` (counting from zero) is due; zero when it is due now.
    /// Late records are not skipped: a stall is followed by a catch-up burst,
    /// so the average rate holds (as Kafka's producer-perf-test throttles).
    pub fn wait_before(&self, sent: u64, elapsed: Duration) -> Duration {
        let Some(rate) = self.records_per_sec else {
            return Duration::ZERO;
        };
        let due = Duration::from_secs_f64(sent as f64 / rate);
        due.saturating_sub(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_pacer_never_waits() {
        let pacer = Pacer::new(None);
        assert_eq!(pacer.wait_before(1_000_000, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn due_by_counts_the_records_whose_slot_has_come() {
        let pacer = Pacer::new(Some(100.0));
        assert_eq!(pacer.due_by(Duration::ZERO), Some(1));
        assert_eq!(pacer.due_by(Duration::from_millis(505)), Some(51));
        assert_eq!(Pacer::new(None).due_by(Duration::from_secs(1)), None);
    }

    #[test]
    fn paced_record_waits_until_its_slot() {
        let pacer = Pacer::new(Some(100.0));
        // Record 50 at 100/s is due 500 ms after the start.
        let wait = pacer.wait_before(50, Duration::from_millis(200));
        assert_eq!(wait, Duration::from_millis(300));
    }

    #[test]
    fn late_record_is_due_at_once() {
        let pacer = Pacer::new(Some(100.0));
        assert_eq!(
            pacer.wait_before(10, Duration::from_secs(5)),
            Duration::ZERO
        );
    }
}
