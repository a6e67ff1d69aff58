//! The pause before any retry: exponential back-off with jitter.
//!
//! A refused or failed call (`ResourceInUseException` with no update listed,
//! throttling after the SDK's own retries, 5xx) is tried again only after a
//! pause that doubles each time, up to a cap, with half of it random so that
//! execution environments side by side do not retry in step.

use std::time::Duration;

use crate::clock::epoch_millis;

pub(super) const CAP: Duration = Duration::from_secs(20);

/// The first retry waits at least about this long (half of it fixed): sooner
/// than a second is pointless after the SDK's own retries, and a fast poll
/// interval must not make retries fast.
pub(super) const FIRST: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub(super) struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    random: u64,
}

impl Backoff {
    /// Starts at `base`, but not below [`FIRST`]; `seed` (the cluster) and
    /// the clock make the jitter.
    pub fn new(base: Duration, seed: &str) -> Backoff {
        Backoff::seeded(
            base.max(FIRST),
            CAP,
            fnv1a(seed.as_bytes()) ^ epoch_millis(),
        )
    }

    pub fn seeded(base: Duration, cap: Duration, seed: u64) -> Backoff {
        Backoff {
            base,
            cap: cap.max(base),
            attempt: 0,
            // xorshift needs a state that is not zero.
            random: seed | 1,
        }
    }

    /// The next pause: half of `base * 2^attempt` (capped) plus up to as much
    /// again at random.
    pub fn next_pause(&mut self) -> Duration {
        let full = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.cap);
        self.attempt += 1;
        let half = full / 2;
        half + half.mul_f64(self.next_unit())
    }

    /// xorshift64: a number in [0, 1).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// FNV-1a, 64 bits: a stable hash (std's hasher may change between releases).
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_within_their_jitter_up_to_the_cap() {
        let base = Duration::from_secs(1);
        let mut backoff = Backoff::seeded(base, Duration::from_secs(8), 42);
        let pauses: Vec<Duration> = (0..6).map(|_| backoff.next_pause()).collect();
        for (n, pause) in pauses.iter().enumerate() {
            let full = (base * (1 << n)).min(Duration::from_secs(8));
            assert!(
                *pause >= full / 2 && *pause <= full,
                "pause {n} is {pause:?}, not within [{:?}, {full:?}]",
                full / 2
            );
        }
        assert!(
            pauses[5] >= Duration::from_secs(4),
            "capped at 8 s, half fixed"
        );
    }

    #[test]
    fn two_environments_do_not_retry_in_step() {
        let base = Duration::from_secs(1);
        let mut a = Backoff::seeded(base, CAP, 1);
        let mut b = Backoff::seeded(base, CAP, 2);
        let a: Vec<Duration> = (0..4).map(|_| a.next_pause()).collect();
        let b: Vec<Duration> = (0..4).map(|_| b.next_pause()).collect();
        assert_ne!(a, b);
    }
}
