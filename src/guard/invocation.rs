//! What the guard knows about one invocation besides its payload: when it
//! must have answered, and which function (account, region, partition) it is.

use std::time::Duration;

use tokio::time::Instant;

use crate::clock::epoch_millis;
use crate::eks::AccountRef;
use crate::event::HandOff;

/// When the invocation must have answered.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Deadline {
    /// From the Runtime API's `Lambda-Runtime-Deadline-Ms` (epoch milliseconds).
    pub fn from_epoch_millis(deadline_ms: u64) -> Deadline {
        let left = deadline_ms.saturating_sub(epoch_millis());
        Deadline(Instant::now() + Duration::from_millis(left))
    }

    #[cfg(any(test, feature = "test-util"))]
    pub fn after(duration: Duration) -> Deadline {
        Deadline(Instant::now() + duration)
    }

    /// True when `needed` still fits before the deadline.
    pub fn allows(&self, needed: Duration) -> bool {
        Instant::now() + needed < self.0
    }

    /// The time left until the deadline (zero once it has passed).
    pub fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// A deadline `margin` earlier: work stops there, so that what must
    /// follow it (an alert, the answer) still fits.
    pub fn before(&self, margin: Duration) -> Deadline {
        Deadline(self.0.checked_sub(margin).unwrap_or_else(Instant::now))
    }
}

#[derive(Clone, Debug)]
pub struct Invocation {
    pub deadline: Deadline,
    /// The function's own ARN (`Lambda-Runtime-Invoked-Function-Arn`): it
    /// tells the function's account, region and partition.
    pub function_arn: String,
    /// When the invocation began (epoch milliseconds): an update EKS
    /// created before it is not one this invocation started.
    pub started_ms: u64,
    /// Set when this invocation goes on with a wait an earlier one handed on.
    pub hand_off: Option<HandOff>,
}

impl Invocation {
    pub fn new(deadline: Deadline, function_arn: impl Into<String>) -> Invocation {
        Invocation {
            deadline,
            function_arn: function_arn.into(),
            started_ms: epoch_millis(),
            hand_off: None,
        }
    }

    /// An invocation whose function ARN is unknown (tests that call the
    /// guard directly): the event's account is taken as the function's own.
    #[cfg(any(test, feature = "test-util"))]
    pub fn until(deadline: Deadline) -> Invocation {
        Invocation::new(deadline, "")
    }

    /// When the guard first handled this invocation's event.
    pub fn first_seen_ms(&self) -> u64 {
        self.hand_off
            .map(|h| h.first_seen_ms)
            .unwrap_or(self.started_ms)
    }

    /// The function's account, region and partition, when its ARN tells.
    pub fn home(&self) -> Option<AccountRef> {
        AccountRef::from_arn(&self.function_arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_before_another_allows_that_much_less() {
        let deadline = Deadline::after(Duration::from_secs(10));
        let earlier = deadline.before(Duration::from_secs(4));
        assert!(deadline.allows(Duration::from_secs(8)));
        assert!(!earlier.allows(Duration::from_secs(8)));
        assert!(earlier.allows(Duration::from_secs(5)));
        // More margin than time left: already passed, never a panic.
        assert!(
            !deadline
                .before(Duration::from_secs(60))
                .allows(Duration::ZERO)
        );
    }
}
