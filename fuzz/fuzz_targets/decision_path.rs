//! Raw invocation bytes -> parsed event -> decision -> alert, with the
//! policy's invariants checked on every input. `make fuzz` runs it.
#![no_main]

#[path = "../check.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check::decision_path(data);
});
