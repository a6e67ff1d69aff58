//! What Security Hub requires of an imported finding, and moto does not
//! check (API reference, `AwsSecurityFinding` and the types it uses; user
//! guide, "Required top-level ASFF attributes"): the required fields, their
//! lengths and values, the timestamps, the product of the finding's own
//! account, and the 240 KB limit.
//!
//! Test code only: `tests/security_hub.rs` checks the findings moto holds,
//! and the unit tests of `src/securityhub` (which include this file by
//! `#[path]`) the documents the guard builds. The limits are Security Hub's,
//! written out here rather than taken from the guard, so that a wrong limit
//! in the guard is caught. Each includer brings `parse_rfc3339`
//! (`eks_endpoint_guard::clock`) into scope for it.

#![allow(dead_code)] // the unit tests use more of it than the integration test

use serde_json::Value;

use super::parse_rfc3339;

pub const SCHEMA_VERSION: &str = "2018-10-08";
/// "The maximum allowed size for a finding is 240 Kb."
pub const MAX_FINDING_BYTES: usize = 240 * 1024;

const TYPE_NAMESPACES: [&str; 5] = [
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
];
const SEVERITY_LABELS: [&str; 5] = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
/// The values ASFF's `Resources[].Partition` takes.
const PARTITIONS: [&str; 5] = ["aws", "aws-cn", "aws-us-gov", "aws-us-iso", "aws-us-iso-b"];

/// What is wrong with `doc` for Security Hub; empty: nothing.
pub fn problems(doc: &Value) -> Vec<String> {
    let mut found = Vec::new();
    lengths(doc, &mut found);
    product(doc, &mut found);
    times(doc, &mut found);
    types(doc, &mut found);
    severities(doc, &mut found);
    resources(doc, &mut found);
    statuses(doc, &mut found);
    product_fields(doc, &mut found);
    let size = doc.to_string().len();
    if size > MAX_FINDING_BYTES {
        found.push(format!("{size} bytes (at most {MAX_FINDING_BYTES})"));
    }
    found
}

fn pointer<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    doc.pointer(path).filter(|v| !v.is_null())
}

fn text<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    pointer(doc, path).and_then(Value::as_str)
}

/// The text fields: present when required, not blank, within their lengths.
fn lengths(doc: &Value, found: &mut Vec<String>) {
    let lengths = [
        ("/SchemaVersion", 1, 128, true),
        ("/Id", 1, 512, true),
        ("/ProductArn", 12, 2048, true),
        ("/GeneratorId", 1, 512, true),
        ("/AwsAccountId", 12, 12, true),
        ("/CreatedAt", 1, 64, true),
        ("/UpdatedAt", 1, 64, true),
        ("/Title", 1, 256, true),
        ("/Description", 1, 1024, true),
        ("/Region", 1, 16, false),
        ("/ProductName", 1, 128, false),
        ("/SourceUrl", 1, 2048, false),
        ("/Severity/Original", 1, 64, false),
        ("/Remediation/Recommendation/Text", 1, 512, false),
    ];
    for (path, min, max, required) in lengths {
        match text(doc, path) {
            None if required => found.push(format!("{path} is missing")),
            None => {}
            Some(s) if s.trim().is_empty() => found.push(format!("{path} is blank")),
            Some(s) if !(min..=max).contains(&s.chars().count()) => found.push(format!(
                "{path} has {} characters (allowed: {min} to {max})",
                s.chars().count()
            )),
            Some(_) => {}
        }
    }
}

/// The schema, the account, and the account's own product: the only one a
/// custom integration may import to.
fn product(doc: &Value, found: &mut Vec<String>) {
    if text(doc, "/SchemaVersion").is_some_and(|v| v != SCHEMA_VERSION) {
        found.push(format!("SchemaVersion must be {SCHEMA_VERSION}"));
    }
    let account = text(doc, "/AwsAccountId").unwrap_or_default();
    if !account.bytes().all(|b| b.is_ascii_digit()) {
        found.push("AwsAccountId is not a 12-digit account id".to_string());
    }
    if let Some(arn) = text(doc, "/ProductArn") {
        let parts: Vec<&str> = arn.split(':').collect();
        let own = format!("product/{account}/default");
        if parts.len() != 6
            || parts[0] != "arn"
            || parts[2] != "securityhub"
            || parts[3].is_empty()
            || parts[4] != account
            || parts[5] != own
        {
            found.push(format!(
                "ProductArn {arn} is not arn:<partition>:securityhub:<region>:{account}:{own}, the only product the finding's account may import to"
            ));
        }
    }
}

/// RFC 3339 times, and a creation no later than the update.
fn times(doc: &Value, found: &mut Vec<String>) {
    for path in [
        "/CreatedAt",
        "/UpdatedAt",
        "/FirstObservedAt",
        "/LastObservedAt",
    ] {
        if let Some(time) = text(doc, path).filter(|t| parse_rfc3339(t).is_none()) {
            found.push(format!("{path} `{time}` is not an RFC 3339 time"));
        }
    }
    if let (Some(created), Some(updated)) = (
        text(doc, "/CreatedAt").and_then(parse_rfc3339),
        text(doc, "/UpdatedAt").and_then(parse_rfc3339),
    ) && created > updated
    {
        found.push("CreatedAt is later than UpdatedAt".to_string());
    }
}

/// One to fifty types, each namespace/category/classifier in a known
/// namespace.
fn types(doc: &Value, found: &mut Vec<String>) {
    for (path, required) in [("/Types", true), ("/FindingProviderFields/Types", false)] {
        match pointer(doc, path).and_then(Value::as_array) {
            None if required => found.push(format!("{path} is missing")),
            None => {}
            Some(types) if types.is_empty() || types.len() > 50 => {
                found.push(format!("{path} has {} entries (1 to 50)", types.len()))
            }
            Some(types) => {
                for t in types.iter().map(|t| t.as_str().unwrap_or_default()) {
                    let namespace = t.split('/').next().unwrap_or_default();
                    if !TYPE_NAMESPACES.contains(&namespace) || t.split('/').count() > 3 {
                        found.push(format!(
                            "{path}: `{t}` is not namespace/category/classifier in a known namespace"
                        ));
                    }
                }
            }
        }
    }
}

/// A known label or a normalized score from 0 to 100.
fn severities(doc: &Value, found: &mut Vec<String>) {
    for (path, required) in [
        ("/Severity", true),
        ("/FindingProviderFields/Severity", false),
    ] {
        let Some(severity) = pointer(doc, path) else {
            if required {
                found.push(format!("{path} is missing"));
            }
            continue;
        };
        let label = severity.get("Label").and_then(Value::as_str);
        let normalized = severity.get("Normalized").and_then(Value::as_i64);
        match (label, normalized) {
            (None, None) => found.push(format!("{path} has neither Label nor Normalized")),
            (Some(label), _) if !SEVERITY_LABELS.contains(&label) => {
                found.push(format!("{path}/Label `{label}` is not a severity label"))
            }
            (_, Some(n)) if !(0..=100).contains(&n) => {
                found.push(format!("{path}/Normalized {n} is not 0 to 100"))
            }
            _ => {}
        }
    }
}

/// One to 32 resources, each with a type and an id, and a partition ASFF
/// names.
fn resources(doc: &Value, found: &mut Vec<String>) {
    let resources = match pointer(doc, "/Resources").and_then(Value::as_array) {
        None => return found.push("/Resources is missing".to_string()),
        Some(resources) if resources.is_empty() || resources.len() > 32 => {
            return found.push(format!(
                "/Resources has {} entries (1 to 32)",
                resources.len()
            ));
        }
        Some(resources) => resources,
    };
    for (i, resource) in resources.iter().enumerate() {
        for (field, max, required) in [
            ("Type", 256, true),
            ("Id", 256, true),
            ("Region", 16, false),
        ] {
            match resource.get(field).and_then(Value::as_str) {
                None if required => found.push(format!("/Resources/{i}/{field} is missing")),
                Some(s) if s.trim().is_empty() || s.chars().count() > max => found.push(format!(
                    "/Resources/{i}/{field} is blank or longer than {max}"
                )),
                _ => {}
            }
        }
        if let Some(p) = resource.get("Partition").and_then(Value::as_str)
            && !PARTITIONS.contains(&p)
        {
            found.push(format!(
                "/Resources/{i}/Partition `{p}` is not one ASFF takes"
            ));
        }
    }
}

/// Compliance, workflow and record state from their lists; at most 32
/// related requirements.
fn statuses(doc: &Value, found: &mut Vec<String>) {
    let enums: [(&str, &[&str]); 3] = [
        (
            "/Compliance/Status",
            &["PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"],
        ),
        (
            "/Workflow/Status",
            &["NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"],
        ),
        ("/RecordState", &["ACTIVE", "ARCHIVED"]),
    ];
    for (path, allowed) in enums {
        if let Some(value) = text(doc, path).filter(|v| !allowed.contains(v)) {
            found.push(format!(
                "{path} `{value}` is not one of {}",
                allowed.join(", ")
            ));
        }
    }
    if pointer(doc, "/Compliance/RelatedRequirements")
        .and_then(Value::as_array)
        .is_some_and(|r| r.len() > 32)
    {
        found.push("/Compliance/RelatedRequirements has more than 32 entries".to_string());
    }
}

/// At most 50 pairs, keys up to 128 characters and values up to 2048, none
/// under `aws/` (Security Hub's own).
fn product_fields(doc: &Value, found: &mut Vec<String>) {
    let Some(fields) = pointer(doc, "/ProductFields").and_then(Value::as_object) else {
        return;
    };
    if fields.len() > 50 {
        found.push(format!(
            "/ProductFields has {} pairs (at most 50)",
            fields.len()
        ));
    }
    for (key, value) in fields {
        let value = value.as_str().unwrap_or_default();
        if key.chars().count() > 128 || value.chars().count() > 2048 {
            found.push(format!("/ProductFields `{key}` is too long"));
        }
        if key.starts_with("aws/") {
            found.push(format!(
                "/ProductFields `{key}`: aws/ keys are Security Hub's"
            ));
        }
    }
}
