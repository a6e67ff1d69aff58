//! At most about two EKS calls per second per cluster, whatever EKS answers.
//!
//! EKS publishes no rate limits and throttles the whole account
//! (`TooManyRequestsException`), so a guard that polls or retries fast slows
//! every other tool in that account. Each cluster gets a token bucket: a
//! burst of `BURST` calls (a finished update, the settings read, the revert:
//! the revert still follows within about 1.5 s), then `rate` calls per second.
//!
//! What repeats is paced: `DescribeCluster`, the `ListUpdates` and
//! `DescribeUpdate` of waiting and of following a revert, and
//! `UpdateClusterConfig`. One-off reads are not: the history (bounded by the
//! number of updates and read once per environment) and the one
//! `DescribeUpdate` of the update a revert started (bounded by the paced
//! revert). Pacing them would only add seconds to a sweep's revert.
//!
//! It also keeps how long EKS takes to answer (a moving average over all
//! clusters), so the sweep can budget a cluster from what its calls really
//! cost rather than from every call timing out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

const BURST: f64 = 2.0;

/// Above this many buckets, the full ones are dropped: a full bucket acts as
/// a missing one, so the memory stays that of the clusters called in the
/// last second or so, not of every cluster of an organization ever swept.
const BUCKETS_KEPT: usize = 256;

#[derive(Clone, Debug)]
pub struct CallPace {
    rate: f64,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
    /// Moving average of call latency, in seconds (`None` before any call).
    latency: Arc<Mutex<Option<f64>>>,
}

/// Latency assumed before any call was measured.
const FIRST_GUESS: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The tokens at `now`, before the cap.
    fn refilled(&self, now: Instant, rate: f64) -> f64 {
        self.tokens + now.duration_since(self.at).as_secs_f64() * rate
    }
}

impl CallPace {
    /// `rate`: calls per second per cluster (after the burst).
    pub fn new(rate: f64) -> CallPace {
        CallPace {
            rate,
            buckets: Arc::default(),
            latency: Arc::default(),
        }
    }

    /// Counts one answered call: an exponential moving average (weight 0.2),
    /// so one slow answer raises the estimate at once but does not rule it.
    pub fn record(&self, took: Duration) {
        let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let took = took.as_secs_f64();
        *latency = Some(match *latency {
            None => took,
            Some(mean) => mean + 0.2 * (took - mean),
        });
    }

    /// How long an EKS call takes, as measured so far.
    pub fn latency(&self) -> Duration {
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(Duration::from_secs_f64)
            .unwrap_or(FIRST_GUESS)
    }

    /// The pacing alone of `calls` calls on one cluster from a full bucket.
    pub fn time_for(&self, calls: u32) -> Duration {
        Duration::from_secs_f64((f64::from(calls) - BURST).max(0.0) / self.rate)
    }

    /// Waits until a call on `cluster` is allowed, and counts it.
    pub async fn admit(&self, cluster: &str) {
        let wait = self.reserve(cluster, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a token now (the balance may go below zero: concurrent callers
    /// queue behind each other) and says how long to wait for it.
    fn reserve(&self, cluster: &str, now: Instant) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= BUCKETS_KEPT {
            let rate = self.rate;
            buckets.retain(|_, b| b.refilled(now, rate) < BURST);
        }
        let bucket = buckets.entry(cluster.to_string()).or_insert(Bucket {
            tokens: BURST,
            at: now,
        });
        bucket.tokens = bucket.refilled(now, self.rate).min(BURST) - 1.0;
        bucket.at = now;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls made back to back at `start`: when each may go.
    fn schedule(pace: &CallPace, cluster: &str, start: Instant, calls: usize) -> Vec<Duration> {
        let mut at = start;
        (0..calls)
            .map(|_| {
                at += pace.reserve(cluster, at);
                at - start
            })
            .collect()
    }

    #[test]
    fn a_burst_then_the_rate_per_cluster() {
        let pace = CallPace::new(2.0);
        let start = Instant::now();
        let times = schedule(&pace, "a", start, 6);
        let ms: Vec<u128> = times.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 0, 500, 1000, 1500, 2000]);
        // Another cluster has its own bucket.
        assert_eq!(
            schedule(&pace, "b", start, 2),
            [Duration::ZERO, Duration::ZERO]
        );
    }

    #[test]
    fn an_idle_cluster_gets_its_burst_back_but_no_more() {
        let pace = CallPace::new(2.0);
        let start = Instant::now();
        schedule(&pace, "a", start, 5);
        let later = start + Duration::from_secs(60);
        let ms: Vec<u128> = schedule(&pace, "a", later, 3)
            .iter()
            .map(Duration::as_millis)
            .collect();
        assert_eq!(ms, [0, 0, 500]);
    }

    #[test]
    fn full_buckets_are_forgotten_but_busy_ones_are_kept() {
        let pace = CallPace::new(2.0);
        let start = Instant::now();
        for i in 1..BUCKETS_KEPT {
            schedule(&pace, &format!("c{i}"), start, 1);
        }
        // "busy" spends its burst and owes one call.
        schedule(&pace, "busy", start, 3);
        let kept = |pace: &CallPace| pace.buckets.lock().unwrap().len();
        assert_eq!(kept(&pace), BUCKETS_KEPT);
        // One more cluster once the others are full again: they go; "busy"
        // (0.2 tokens by then) stays, with what it still owes.
        let later = start + Duration::from_millis(600);
        schedule(&pace, "new", later, 1);
        assert_eq!(kept(&pace), 2);
        let owed = schedule(&pace, "busy", later, 1)[0].as_secs_f64();
        assert!((owed - 0.4).abs() < 1e-6, "{owed}");
    }

    #[test]
    fn latency_is_a_moving_average_of_what_calls_took() {
        let pace = CallPace::new(2.0);
        assert_eq!(pace.latency(), FIRST_GUESS);
        pace.record(Duration::from_millis(100));
        assert_eq!(pace.latency(), Duration::from_millis(100));
        pace.record(Duration::from_millis(600));
        assert_eq!(pace.latency().as_millis(), 200);
        assert_eq!(pace.time_for(2), Duration::ZERO);
        assert_eq!(pace.time_for(6), Duration::from_secs(2));
    }
}
