//! The retry delay schedule: exponential from `retry.backoff.ms` to
//! `retry.backoff.max.ms`, with ±20 % jitter so clients that failed together do
//! not retry together (KIP-580). Randomness is injected so the schedule is testable.

use std::time::Duration;

use rand::Rng;

/// Relative jitter applied to each delay (KIP-580 uses 0.2).
const JITTER: f64 = 0.2;

/// An exponential backoff schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u64,
    max_ms: u64,
}

impl Backoff {
    /// A schedule starting at `base_ms` and never exceeding `max_ms`
    /// (`max_ms` below `base_ms` is raised to `base_ms`).
    pub fn new(base_ms: u64, max_ms: u64) -> Self {
        Backoff {
            base_ms,
            max_ms: max_ms.max(base_ms),
        }
    }

    /// The delay before retry number `attempt` (0 for the first retry):
    /// `base * 2^attempt`, capped at the maximum, times a random factor in
    /// `[0.8, 1.2)`, capped again at the maximum.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let exponential = self.base_ms.saturating_mul(1u64 << attempt.min(32));
        let term = exponential.min(self.max_ms);
        let factor = rng.random_range((1.0 - JITTER)..(1.0 + JITTER));
        // Delays are at most `max_ms` (u64 milliseconds), so the float product
        // is finite and non-negative; `as` saturates in any case.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let jittered = (term as f64 * factor) as u64;
        Duration::from_millis(jittered.min(self.max_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// An RNG of all-zero bits: `random_range` over floats returns the low end.
    struct ZeroRng;

    impl rand::RngCore for ZeroRng {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, destination: &mut [u8]) {
            destination.fill(0);
        }
    }

    fn low_rng() -> ZeroRng {
        ZeroRng
    }

    #[test]
    fn delay_doubles_per_attempt_until_the_cap() {
        let backoff = Backoff::new(100, 1000);
        let delays: Vec<u64> = (0..6)
            .map(|attempt| backoff.delay(attempt, &mut low_rng()).as_millis() as u64)
            .collect();
        assert_eq!(delays, vec![80, 160, 320, 640, 800, 800]);
    }

    #[test]
    fn jittered_delays_stay_within_twenty_percent_and_the_cap() {
        let backoff = Backoff::new(100, 1000);
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..20 {
            let delay = backoff.delay(attempt, &mut rng).as_millis() as u64;
            let term = (100u64 << attempt.min(10)).min(1000);
            assert!(
                delay >= term * 8 / 10 && delay <= 1000,
                "attempt {attempt}: {delay}"
            );
        }
    }

    #[test]
    fn jitter_spreads_delays() {
        let backoff = Backoff::new(100, 1000);
        let mut rng = StdRng::seed_from_u64(1);
        let delays: std::collections::HashSet<Duration> =
            (0..20).map(|_| backoff.delay(2, &mut rng)).collect();
        assert!(delays.len() > 1);
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let backoff = Backoff::new(u64::MAX / 2, u64::MAX);
        let delay = backoff.delay(u32::MAX, &mut StdRng::seed_from_u64(0));
        assert!(delay > Duration::ZERO);
    }

    #[test]
    fn max_below_base_is_raised_to_base() {
        let backoff = Backoff::new(500, 100);
        assert_eq!(backoff.delay(0, &mut low_rng()), Duration::from_millis(400));
    }
}
