//! Throttling per account and region, as real EKS does it: every account-region has its own
//! token bucket (EKS quotas are per account per region; each region is its own endpoint), and
//! a request that finds the bucket empty is answered `429 ThrottlingException` "Rate exceeded"
//! without being handled.
//!
//! AWS does not publish EKS's API rates. The bucket is the usual AWS model (documented for EC2's
//! API throttling: a bucket of `burst` tokens, refilled at `per_second`, one token per
//! request); a throttled request takes no token, so a client that retries at once keeps being
//! throttled until a token has dripped in.

use std::collections::HashMap;

use tokio::time::Instant as TokioInstant;

use super::Rate;
use super::model::Place;

/// The buckets of every account-region the double has been asked about.
#[derive(Debug, Default)]
pub(super) struct Throttle {
    rate: Option<Rate>,
    buckets: HashMap<Place, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: TokioInstant,
}

impl Throttle {
    pub(super) fn new(rate: Option<Rate>) -> Throttle {
        Throttle {
            rate,
            buckets: HashMap::new(),
        }
    }

    pub(super) fn rate(&self) -> Option<Rate> {
        self.rate
    }

    /// Replaces the rate; every account-region starts again from a full bucket.
    pub(super) fn set_rate(&mut self, rate: Option<Rate>) {
        self.rate = rate;
        self.buckets.clear();
    }

    /// Whether a request of `place` arriving at `now` is let through; takes its token if so.
    /// Always true without a rate.
    pub(super) fn admit(&mut self, place: &Place, now: TokioInstant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let bucket = self.buckets.entry(place.clone()).or_insert(Bucket {
            tokens: rate.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.per_second).min(rate.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn place(account: &str, region: &str) -> Place {
        Place {
            account: account.to_owned(),
            region: region.to_owned(),
        }
    }

    /// Which of the requests arriving at these offsets (ms) get through.
    fn admitted(
        throttle: &mut Throttle,
        place: &Place,
        start: TokioInstant,
        at_ms: &[u64],
    ) -> Vec<bool> {
        at_ms
            .iter()
            .map(|ms| throttle.admit(place, start + Duration::from_millis(*ms)))
            .collect()
    }

    #[test]
    fn a_full_bucket_lets_a_burst_through_then_the_rate() {
        let mut throttle = Throttle::new(Some(Rate::new(8.0, 3.0)));
        let here = place("111122223333", "eu-west-1");
        let start = TokioInstant::now();
        // Three at once (the burst), the fourth at once is refused; 125 ms brings one token.
        assert_eq!(
            admitted(
                &mut throttle,
                &here,
                start,
                &[0, 0, 0, 0, 100, 125, 130, 250]
            ),
            [true, true, true, false, false, true, false, true]
        );
    }

    #[test]
    fn refused_requests_take_no_token_and_an_idle_bucket_fills_only_to_the_burst() {
        let mut throttle = Throttle::new(Some(Rate::new(2.0, 2.0)));
        let here = place("111122223333", "eu-west-1");
        let start = TokioInstant::now();
        assert_eq!(
            admitted(&mut throttle, &here, start, &[0, 0, 1, 2, 3, 500]),
            [true, true, false, false, false, true],
            "the refusals at 1-3 ms did not push the token of 500 ms further out"
        );
        assert_eq!(
            admitted(&mut throttle, &here, start, &[60_000, 60_000, 60_000]),
            [true, true, false],
            "a minute idle refills two tokens, not 120"
        );
    }

    #[test]
    fn each_account_region_has_its_own_bucket_and_no_rate_admits_everything() {
        let mut throttle = Throttle::new(Some(Rate::new(1.0, 1.0)));
        let start = TokioInstant::now();
        let home = place("111122223333", "eu-west-1");
        assert!(throttle.admit(&home, start));
        assert!(!throttle.admit(&home, start));
        assert!(throttle.admit(&place("111122223333", "eu-central-1"), start));
        assert!(throttle.admit(&place("222233334444", "eu-west-1"), start));

        throttle.set_rate(None);
        assert!((0..100).all(|_| throttle.admit(&home, start)));
        throttle.set_rate(Some(Rate::new(1.0, 1.0)));
        assert!(throttle.admit(&home, start), "a new rate starts full");
        assert!(!throttle.admit(&home, start));
    }
}
