//! Every sample in `events/` parses to what it stands for.

use std::collections::BTreeSet;
use std::path::Path;

use eks_endpoint_guard::event::{ApiCall, ClusterChange, Origin, Trigger, parse};
use eks_endpoint_guard::policy::{Exemption, exemption};
use eks_endpoint_guard::tool::{CrossplaneProvider, Tool, identify};
use serde_json::Value;

enum Expect {
    /// A cluster change: the API call, the cluster, whether the request opens
    /// the public endpoint, and the update id to wait for.
    Change(ApiCall, &'static str, Option<bool>, Option<&'static str>),
    /// A cluster change whose requested settings cannot be read: the cluster,
    /// and what the reason names. The guard judges the real state anyway.
    Unreadable(&'static str, &'static str),
    Ignored(&'static str),
    Sweep(&'static str, &'static str),
    Invalid(&'static str),
    NotJson,
}

/// The update the open-public sample, and those made from it, started.
const SAMPLE_UPDATE: &str = "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c2a";

/// The `TagResource` samples, each of `prod-eu` and made with the AWS CLI.
const TAG_SAMPLES: [&str; 8] = [
    "tagresource-exempt-granted.json",
    "tagresource-exempt-until.json",
    "tagresource-exempt-until-date.json",
    "tagresource-exempt-until-offset.json",
    "tagresource-exempt-too-far.json",
    "tagresource-exempt-ended.json",
    "tagresource-exempt-not-understood.json",
    "tagresource-other-tag.json",
];

/// An `UpdateClusterConfig` of `prod-eu` that waits for `update`.
fn prod_eu_update(opens: Option<bool>, update: &'static str) -> Expect {
    Expect::Change(ApiCall::UpdateClusterConfig, "prod-eu", opens, Some(update))
}

fn expectations() -> Vec<(&'static str, Expect)> {
    use Expect::*;
    let mut expected = vec![
        (
            "createcluster-console-public.json",
            Change(ApiCall::CreateCluster, "amazon-eks", Some(true), None),
        ),
        (
            "createcluster-legacy-clustername.json",
            Change(ApiCall::CreateCluster, "test", Some(true), None),
        ),
        (
            "createcluster-private.json",
            Change(
                ApiCall::CreateCluster,
                "private-by-design",
                Some(false),
                None,
            ),
        ),
        (
            "updateclusterconfig-console-close-public.json",
            Change(
                ApiCall::UpdateClusterConfig,
                "amazon-eks",
                Some(false),
                Some("a6a26d0a-c985-40df-8d17-9d994525339f"),
            ),
        ),
        (
            "updateclusterconfig-open-public.json",
            prod_eu_update(Some(true), SAMPLE_UPDATE),
        ),
        (
            "updateclusterconfig-widen-cidrs.json",
            prod_eu_update(Some(true), SAMPLE_UPDATE),
        ),
        (
            "updateclusterconfig-unknown-fields.json",
            prod_eu_update(Some(true), SAMPLE_UPDATE),
        ),
        (
            "updateclusterconfig-logging-only.json",
            prod_eu_update(None, SAMPLE_UPDATE),
        ),
        (
            "updateclusterconfig-guard-own-revert.json",
            prod_eu_update(Some(false), SAMPLE_UPDATE),
        ),
        (
            "updateclusterconfig-failed-access-denied.json",
            Ignored("AccessDeniedException"),
        ),
        (
            "updateclusterconfig-no-request-parameters.json",
            Invalid("no requestParameters"),
        ),
        (
            "updateclusterconfig-oversized-cidrs.json",
            Unreadable("prod-eu", "at most 40"),
        ),
        (
            "updateclusterconfig-unreadable-params.json",
            Unreadable("prod-eu", "PublicAccessCidrs in update.params"),
        ),
        (
            "eks-describecluster-read-only.json",
            Ignored("DescribeCluster"),
        ),
        ("ec2-instance-state-change.json", Ignored("aws.ec2")),
        ("empty-object.json", Ignored("not an EventBridge event")),
        ("malformed-json.json", NotJson),
        ("scheduled-sweep.json", Sweep("111122223333", "eu-west-1")),
        (
            "untagresource-exempt-removed.json",
            Change(ApiCall::UntagResource, "prod-eu", None, None),
        ),
        ("tagresource-nodegroup.json", Ignored("not an EKS cluster")),
    ];
    // Tag calls carry no endpoint settings and start no update.
    for file in TAG_SAMPLES {
        expected.push((file, Change(ApiCall::TagResource, "prod-eu", None, None)));
    }
    // One sample per tool that opens the endpoint (see `tools_behind_the_samples`).
    for (file, n) in [
        ("updateclusterconfig-opentofu-open-public.json", 1),
        ("updateclusterconfig-cloudformation-open-public.json", 2),
        ("updateclusterconfig-cdk-open-public.json", 3),
        ("updateclusterconfig-eksctl-open-public.json", 4),
        ("updateclusterconfig-pulumi-open-public.json", 5),
        ("updateclusterconfig-crossplane-open-public.json", 6),
        ("updateclusterconfig-ack-open-public.json", 7),
        ("updateclusterconfig-sdk-python-open-public.json", 8),
    ] {
        expected.push((file, prod_eu_update(Some(true), UPDATES[n - 1])));
    }
    expected
}

/// The update ids of the samples per tool, in their order.
const UPDATES: [&str; 8] = [
    "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c01",
    "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c02",
    "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c03",
    "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c04",
    "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c05",
    "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c06",
    "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c07",
    "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c08",
];

#[test]
fn every_sample_event_parses_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("events/ exists")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    let expected = expectations();
    let covered: BTreeSet<String> = expected.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(
        on_disk, covered,
        "every file in events/ needs an expectation here"
    );

    for (file, expect) in expected {
        let text = std::fs::read_to_string(dir.join(file)).expect(file);
        let payload: Value = match (serde_json::from_str(&text), &expect) {
            (Ok(value), _) => value,
            (Err(_), Expect::NotJson) => continue,
            (Err(e), _) => panic!("{file}: {e}"),
        };
        match (parse(&payload), expect) {
            (Ok(Trigger::ClusterChange(change)), Expect::Change(call, cluster, opens, update)) => {
                assert_eq!(change.origin, Origin::CloudTrail(call), "{file}");
                assert_eq!(change.cluster_name, cluster, "{file}");
                assert_eq!(
                    change.requested.as_ref().map(|r| r.endpoint_public_access),
                    opens,
                    "{file}"
                );
                assert_eq!(change.update_id.as_deref(), update, "{file}");
                assert!(change.event_id.is_some(), "{file}: event id");
                assert!(change.actor.principal_arn.is_some(), "{file}: actor");
                assert!(change.actor.source_ip.is_some(), "{file}: source IP");
                assert!(change.actor.user_agent.is_some(), "{file}: user agent");
            }
            (Ok(Trigger::ClusterChange(change)), Expect::Unreadable(cluster, why)) => {
                assert_eq!(change.cluster_name, cluster, "{file}");
                assert_eq!(change.requested, None, "{file}");
                let reason = change.requested_unreadable.expect("a reason");
                assert!(reason.contains(why), "{file}: {reason}");
                assert!(change.update_id.is_some(), "{file}: the update to wait for");
            }
            (Ok(Trigger::Ignored(reason)), Expect::Ignored(why)) => {
                assert!(reason.contains(why), "{file}: {reason}")
            }
            (Ok(Trigger::Sweep(request)), Expect::Sweep(account, region)) => {
                assert_eq!(request.account, account, "{file}");
                assert_eq!(request.region, region, "{file}");
            }
            (Err(invalid), Expect::Invalid(why)) => {
                assert!(invalid.0.contains(why), "{file}: {}", invalid.0)
            }
            (got, _) => panic!("{file}: unexpected {got:?}"),
        }
    }
}

#[test]
fn tag_calls_say_which_tags_they_change() {
    let granted = include_str!("../events/tagresource-exempt-granted.json");
    let Ok(Trigger::ClusterChange(change)) = parse(&serde_json::from_str(granted).unwrap()) else {
        panic!("a cluster change")
    };
    let edit = change.tag_edit.expect("a tag edit");
    assert!(
        edit.set
            .contains(&("eks-endpoint-guard/exempt".to_string(), "true".to_string()))
    );
    let removed = include_str!("../events/untagresource-exempt-removed.json");
    let Ok(Trigger::ClusterChange(change)) = parse(&serde_json::from_str(removed).unwrap()) else {
        panic!("a cluster change")
    };
    assert_eq!(
        change.tag_edit.expect("a tag edit").removed,
        vec!["eks-endpoint-guard/exempt"]
    );
}

#[test]
fn the_widened_list_and_the_sso_actor_are_read() {
    let text = include_str!("../events/updateclusterconfig-widen-cidrs.json");
    let Ok(Trigger::ClusterChange(change)) = parse(&serde_json::from_str(text).unwrap()) else {
        panic!("a cluster change")
    };
    let requested = change.requested.expect("endpoint settings");
    assert_eq!(
        requested.public_access_cidrs,
        vec!["203.0.113.0/24", "0.0.0.0/0"]
    );
    assert_eq!(
        change.actor.session_name.as_deref(),
        Some("jane.doe@example.com")
    );
    assert!(change.actor.user_agent.unwrap().contains("Terraform"));
}

/// Each exempt-tag sample, read as the guard reads it on 2026-12-01T10:00:00Z
/// with the default `MAX_EXEMPTION_DAYS` (30): its name says what it is.
#[test]
fn the_exempt_tag_samples_read_as_their_names_say() {
    const NOW: i64 = 1_796_119_200;
    let dec_24_18h = 1_798_135_200;
    let cases = [
        (
            "tagresource-exempt-granted.json",
            "true",
            Exemption::Forever,
        ),
        (
            "tagresource-exempt-until.json",
            "2026-12-24T18:00:00Z",
            Exemption::Until { end: dec_24_18h },
        ),
        (
            "tagresource-exempt-until-date.json",
            "2026-12-24",
            Exemption::Until {
                end: dec_24_18h + 6 * 3600,
            },
        ),
        (
            "tagresource-exempt-until-offset.json",
            "2026-12-24T19:00:00+01:00",
            Exemption::Until { end: dec_24_18h },
        ),
        (
            "tagresource-exempt-too-far.json",
            "2099-12-31",
            Exemption::TooFar {
                end: 4_102_444_800,
                max_days: 30,
            },
        ),
        (
            "tagresource-exempt-ended.json",
            "2026-11-01T00:00:00Z",
            Exemption::Ended { end: 1_793_491_200 },
        ),
        (
            "tagresource-exempt-not-understood.json",
            "yes",
            Exemption::NotUnderstood("yes".into()),
        ),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    for (file, value, expected) in cases {
        let text = std::fs::read_to_string(dir.join(file)).expect(file);
        let Ok(Trigger::ClusterChange(change)) = parse(&serde_json::from_str(&text).unwrap())
        else {
            panic!("{file}: a cluster change")
        };
        let edit = change.tag_edit.expect("a tag edit");
        let set = edit
            .set
            .iter()
            .find(|(k, _)| k == "eks-endpoint-guard/exempt")
            .map(|(_, v)| v.as_str());
        assert_eq!(set, Some(value), "{file}");
        assert_eq!(exemption(set, NOW, 30), expected, "{file}");
    }
}

/// The tool each sample that names a cluster change was made with.
fn tools() -> Vec<(&'static str, Tool)> {
    let mut tools = vec![
        ("createcluster-console-public.json", Tool::Console),
        // The 2018 documentation record was made with Postman.
        ("createcluster-legacy-clustername.json", Tool::Unknown),
        ("createcluster-private.json", Tool::Console),
        (
            "updateclusterconfig-console-close-public.json",
            Tool::Console,
        ),
        ("updateclusterconfig-open-public.json", Tool::AwsCli),
        ("updateclusterconfig-widen-cidrs.json", Tool::Terraform),
        ("updateclusterconfig-unknown-fields.json", Tool::AwsCli),
        ("updateclusterconfig-logging-only.json", Tool::AwsCli),
        (
            "updateclusterconfig-guard-own-revert.json",
            Tool::Sdk(Some("Rust")),
        ),
        ("updateclusterconfig-oversized-cidrs.json", Tool::AwsCli),
        ("updateclusterconfig-unreadable-params.json", Tool::AwsCli),
        ("untagresource-exempt-removed.json", Tool::AwsCli),
        (
            "updateclusterconfig-opentofu-open-public.json",
            Tool::OpenTofu,
        ),
        (
            "updateclusterconfig-cloudformation-open-public.json",
            Tool::CloudFormation,
        ),
        ("updateclusterconfig-cdk-open-public.json", Tool::Cdk),
        ("updateclusterconfig-eksctl-open-public.json", Tool::Eksctl),
        ("updateclusterconfig-pulumi-open-public.json", Tool::Pulumi),
        (
            "updateclusterconfig-crossplane-open-public.json",
            Tool::Crossplane(CrossplaneProvider::Upjet),
        ),
        ("updateclusterconfig-ack-open-public.json", Tool::Ack),
        (
            "updateclusterconfig-sdk-python-open-public.json",
            Tool::Sdk(Some("Python")),
        ),
    ];
    tools.extend(TAG_SAMPLES.map(|file| (file, Tool::AwsCli)));
    tools
}

fn sample_change(file: &str) -> Option<ClusterChange> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let payload: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).ok()?).ok()?;
    match parse(&payload) {
        Ok(Trigger::ClusterChange(change)) => Some(*change),
        _ => None,
    }
}

#[test]
fn tools_behind_the_samples() {
    let expected = tools();
    let changes: BTreeSet<&str> = expectations()
        .into_iter()
        .map(|(file, _)| file)
        .filter(|file| sample_change(file).is_some())
        .collect();
    let covered: BTreeSet<&str> = expected.iter().map(|(file, _)| *file).collect();
    assert_eq!(changes, covered, "every sample change needs its tool here");
    for (file, tool) in expected {
        let change = sample_change(file).expect(file);
        let found = identify(&change.actor);
        assert_eq!(found.tool, tool, "{file}: {}", found.evidence);
    }
}
