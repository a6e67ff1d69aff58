//! Identifiers that look like the ones AWS hands out. They only need to be unique within a test
//! run, so they come from the standard library's randomly keyed hasher instead of a uuid crate.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 random-looking bits; the counter makes two calls differ even with equal hasher keys.
fn random_u64() -> u64 {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    RandomState::new().hash_one(n)
}

/// A version-4-shaped UUID such as `3f1c9a7e-5b2d-4e8f-9a01-7c6d5e4f3a2b`, the form of Lambda
/// request ids and EKS update ids.
pub(crate) fn uuid_like() -> String {
    let high = random_u64();
    let low = random_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0x0fff,
        ((low >> 48) & 0x3fff) | 0x8000,
        low & 0xffff_ffff_ffff
    )
}

/// `len` lowercase hex digits, for resource ids like `vpc-0a1b2c...`.
pub(crate) fn hex(len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        out.push_str(&format!("{:016x}", random_u64()));
    }
    out.truncate(len);
    out
}

/// An X-Ray trace header in the shape Lambda passes in `Lambda-Runtime-Trace-Id`.
pub(crate) fn trace_id() -> String {
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!(
        "Root=1-{epoch:08x}-{};Parent={};Sampled=0",
        hex(24),
        hex(16)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_like_ids_have_the_uuid_shape_and_differ() {
        let a = uuid_like();
        let b = uuid_like();
        assert_ne!(a, b);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{a}");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
