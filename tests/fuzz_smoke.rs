//! A short, deterministic stand-in for the fuzzer inside the test command:
//! the fuzz target's own check over every sample event and thousands of
//! mutations of them (byte-level and JSON-structural). `make fuzz` runs the
//! real coverage-guided libFuzzer on the same check.

#[path = "../fuzz/check.rs"]
mod check;

use serde_json::Value;

/// Byte-level and structural mutations per sample: about 4 x 45 samples x
/// 100 runs in some 15 s of the test command; `make fuzz` goes further.
const MUTATIONS_PER_SEED: usize = 100;

/// xorshift64*: a reproducible stream of choices, no dependency.
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that have broken parsers of CloudTrail records before.
fn odd_value(choices: &mut Choices) -> Value {
    let odd = [
        Value::Null,
        Value::Bool(true),
        Value::from(1709907511.428),
        Value::from(-1),
        Value::from(""),
        Value::from("Nov 23, 2026, 6:00:01 AM"),
        Value::from("0.0.0.0/0"),
        Value::from("::/0"),
        Value::from("[\"0.0.0.0/0\"]"),
        Value::from("true"),
        Value::from("2026-12-24"),
        Value::from("2026-12-24T19:00:00+01:00"),
        Value::from("2026-02-30"),
        Value::from("9999-12-31"),
        Value::from("0000-01-01T00:00:00Z"),
        Value::from("x".repeat(300)),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!(["0.0.0.0/0", "203.0.113.0/24", "not-a-cidr", 7]),
        serde_json::json!({"type": "EndpointPublicAccess", "value": "TRUE"}),
    ];
    odd[choices.below(odd.len())].clone()
}

/// Replaces one value somewhere in the tree.
fn mutate(value: &mut Value, choices: &mut Choices) {
    match value {
        Value::Object(map) if !map.is_empty() && choices.below(4) != 0 => {
            let key = map
                .keys()
                .nth(choices.below(map.len()))
                .cloned()
                .unwrap_or_default();
            if choices.below(8) == 0 {
                map.remove(&key);
            } else if let Some(child) = map.get_mut(&key) {
                mutate(child, choices);
            }
        }
        Value::Array(items) if !items.is_empty() && choices.below(4) != 0 => {
            let at = choices.below(items.len());
            mutate(&mut items[at], choices);
        }
        _ => *value = odd_value(choices),
    }
}

#[test]
fn the_decision_path_survives_mutated_events() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 20, "seeded from every sample event");
    let mut choices = Choices(0x9E37_79B9_7F4A_7C15);
    let mut runs = 0;
    for seed in &seeds {
        check::decision_path(seed);
        for _ in 0..MUTATIONS_PER_SEED {
            // Byte-level: flip, cut, or splice.
            let mut bytes = seed.clone();
            match choices.below(3) {
                0 => {
                    let at = choices.below(bytes.len());
                    bytes[at] ^= 1 << choices.below(8);
                }
                1 => bytes.truncate(choices.below(bytes.len())),
                _ => {
                    let at = choices.below(bytes.len());
                    bytes.splice(at..at, b"\"0.0.0.0/0\",".iter().copied());
                }
            }
            check::decision_path(&bytes);
            runs += 1;
        }
        if let Ok(parsed) = serde_json::from_slice::<Value>(seed) {
            for _ in 0..MUTATIONS_PER_SEED {
                let mut value = parsed.clone();
                for _ in 0..=choices.below(3) {
                    mutate(&mut value, &mut choices);
                }
                check::decision_path(&serde_json::to_vec(&value).unwrap());
                runs += 1;
            }
        }
    }
    assert!(runs > 4_000, "{runs} runs");
}
