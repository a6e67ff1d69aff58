//! Wall-clock time in the two forms AWS hands the guard: epoch milliseconds
//! (the Runtime API's deadline, EMF timestamps) and RFC 3339 text
//! (CloudTrail's `eventTime`). One place, so no two parts disagree.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch, now, with their fraction (what update and
/// cluster ages are measured against).
pub fn now_seconds() -> f64 {
    epoch_millis() as f64 / 1000.0
}

/// Whole seconds since the Unix epoch, now (what exemption ends are judged
/// against).
pub fn epoch_seconds() -> i64 {
    (epoch_millis() / 1000) as i64
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2026-11-23T06:00:01Z`).
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    aws_sdk_eks::primitives::DateTime::from_str(
        text,
        aws_sdk_eks::primitives::DateTimeFormat::DateTime,
    )
    .ok()
    .map(|t| t.as_secs_f64())
}

/// Seconds since the Unix epoch of an RFC 3339 time with `Z` or an offset
/// (`2026-11-23T07:00:00+00:00`, as the event parser writes a scheduled
/// event's time).
pub fn parse_rfc3339_with_offset(text: &str) -> Option<i64> {
    aws_sdk_eks::primitives::DateTime::from_str(
        text,
        aws_sdk_eks::primitives::DateTimeFormat::DateTimeWithOffset,
    )
    .ok()
    .map(|t| t.secs())
}

/// Seconds from an RFC 3339 time to now.
pub fn seconds_since(text: &str) -> Option<f64> {
    Some(now_seconds() - parse_rfc3339(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudtrail_times_are_read_and_aged() {
        assert_eq!(parse_rfc3339("1970-01-01T00:01:00Z"), Some(60.0));
        assert_eq!(parse_rfc3339("yesterday"), None);
        let age = seconds_since("2020-01-01T00:00:00Z").unwrap();
        assert!(age > 6.0 * 365.0 * 86_400.0, "{age}");
    }
}
