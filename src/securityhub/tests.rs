use aws_sdk_securityhub::types as sh;
use serde_json::Value;

use super::asff::{MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, timestamp};
use super::*;
use crate::alert::Finding;
use crate::alert::{self, Acted, Judged};
use crate::clock::parse_rfc3339;
use crate::config::Config;
use crate::event::ClusterChange;
use crate::fixtures::{self, open};
use crate::outcome::Outcome;
use crate::policy::Mode;
use crate::policy::{EndpointAccess, Policy, decide};

#[path = "../../tests/asff_check/mod.rs"]
mod asff_check;
use asff_check::{MAX_FINDING_BYTES, problems};

const ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu";
/// 2026-11-23T06:05:00Z, five minutes after the sample event.
const LATER_MS: u64 = 1_795_413_900_000;

fn hub() -> AccountRef {
    AccountRef {
        partition: "aws".into(),
        region: "eu-west-1".into(),
        account: "111122223333".into(),
    }
}

fn change() -> ClusterChange {
    fixtures::change("prod-eu")
}

/// A document's compliance and workflow statuses.
fn statuses(json: &serde_json::Value) -> (&str, &str) {
    let status = |field: &str| json[field]["Status"].as_str().unwrap_or_default();
    (status("Compliance"), status("Workflow"))
}

/// The alert for a cluster found `found`, decided under `policy`.
fn told(
    found: &EndpointAccess,
    policy: &Policy,
    mode: Mode,
    exempt: bool,
    acted: &Acted,
) -> Finding {
    let (action, verdict) = decide(policy, mode, exempt, Some(found), found);
    alert::finding(
        &change(),
        Judged {
            cluster_arn: ARN,
            status: "ACTIVE",
            found: Some(found),
            verdict: &verdict,
            stack: None,
            exemption: None,
            action: &action,
        },
        mode,
        acted,
    )
}

fn reverted() -> Acted {
    Acted {
        update_id: Some("rev-9".into()),
        ..Acted::default()
    }
}

fn internet_reverted() -> Finding {
    told(
        &open(&["0.0.0.0/0"]),
        &Policy::default(),
        Mode::Enforce,
        false,
        &reverted(),
    )
}

/// The document as Security Hub's JSON spells it.
fn json(doc: &Asff) -> Value {
    serde_json::to_value(doc).expect("an ASFF document serialises")
}

fn assert_valid(doc: &Asff) -> Value {
    let json = json(doc);
    let problems = problems(&json);
    assert!(problems.is_empty(), "{problems:#?}\n{json:#}");
    json
}

#[test]
fn a_reverted_cluster_is_a_failed_new_high_finding_with_every_required_field() {
    let finding = internet_reverted();
    let standing = Standing::of(&finding).expect("a violation");
    assert_eq!(standing, Standing::Open);
    let doc = Asff::of(&finding, standing, None, &hub(), LATER_MS);
    let json = assert_valid(&doc);
    assert_eq!(json["SchemaVersion"], "2018-10-08");
    assert_eq!(
        json["ProductArn"],
        "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
    );
    assert_eq!(json["GeneratorId"], "eks-endpoint-guard");
    assert_eq!(json["AwsAccountId"], "111122223333");
    assert_eq!(json["Region"], "eu-west-1");
    assert_eq!(
        json["Id"],
        format!("{ARN}/eks-endpoint-guard/public-endpoint")
    );
    assert!(
        json["Types"][0]
            .as_str()
            .unwrap()
            .starts_with("Software and Configuration Checks/")
    );
    let resource = &json["Resources"][0];
    assert_eq!(resource["Type"], "AwsEksCluster");
    assert_eq!(resource["Id"], ARN);
    assert_eq!(resource["Partition"], "aws");
    assert_eq!(resource["Region"], "eu-west-1");
    assert_eq!(
        resource["Details"]["AwsEksCluster"]["ResourcesVpcConfig"]["EndpointPublicAccess"],
        true
    );
    assert_eq!(json["Compliance"]["Status"], "FAILED");
    assert!(
        json["Compliance"]["RelatedRequirements"][0]
            .as_str()
            .unwrap()
            .ends_with("/EKS.1")
    );
    assert_eq!(json["Workflow"]["Status"], "NEW");
    assert_eq!(json["RecordState"], "ACTIVE");
    assert_eq!(json["Severity"]["Label"], "HIGH");
    assert_eq!(json["FindingProviderFields"]["Severity"]["Label"], "HIGH");
    assert_eq!(json["FindingProviderFields"]["Types"], json["Types"]);
    assert_eq!(
        json["SourceUrl"],
        "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/ev-1"
    );
    // CreatedAt is the event's time; UpdatedAt the import's.
    assert_eq!(json["CreatedAt"], "2026-11-23T06:00:01Z");
    assert_eq!(json["FirstObservedAt"], "2026-11-23T06:00:01Z");
    assert_eq!(json["UpdatedAt"], "2026-11-23T06:05:00.000Z");
    assert_eq!(json["LastObservedAt"], json["UpdatedAt"]);
    let description = json["Description"].as_str().unwrap();
    for needle in fixtures::NAMED_IN_EVERY_VIEW
        .into_iter()
        .chain(["rev-9", "UpdateClusterConfig"])
    {
        assert!(description.contains(needle), "{needle}: {description}");
    }
    assert_eq!(
        json["ProductFields"]["eks-endpoint-guard/UpdateId"],
        "rev-9"
    );
    assert_eq!(
        json["ProductFields"]["eks-endpoint-guard/Outcome"],
        "reverted"
    );
}

#[test]
fn the_sdk_document_carries_the_same_fields() {
    let doc = Asff::of(&internet_reverted(), Standing::Open, None, &hub(), LATER_MS);
    let sdk = doc.to_sdk();
    assert_eq!(sdk.id(), Some(doc.id.as_str()));
    assert_eq!(sdk.product_arn(), Some(doc.product_arn.as_str()));
    assert_eq!(sdk.aws_account_id(), Some("111122223333"));
    assert_eq!(sdk.types(), doc.types.as_slice());
    assert_eq!(sdk.created_at(), Some("2026-11-23T06:00:01Z"));
    assert_eq!(
        sdk.severity().and_then(|s| s.label()),
        Some(&sh::SeverityLabel::High)
    );
    assert_eq!(
        sdk.compliance().and_then(|c| c.status()),
        Some(&sh::ComplianceStatus::Failed)
    );
    assert_eq!(
        sdk.workflow().and_then(|w| w.status()),
        Some(&sh::WorkflowStatus::New)
    );
    let resource = &sdk.resources()[0];
    assert_eq!(resource.r#type(), Some("AwsEksCluster"));
    assert_eq!(resource.partition(), Some(&sh::Partition::Aws));
    assert_eq!(
        resource
            .details()
            .and_then(|d| d.aws_eks_cluster())
            .and_then(|e| e.name()),
        Some("prod-eu")
    );
    assert_eq!(
        sdk.product_fields().map(HashMap::len),
        Some(doc.product_fields.len())
    );
    assert_eq!(
        sdk.finding_provider_fields()
            .and_then(|f| f.severity())
            .and_then(|s| s.label()),
        Some(&sh::SeverityLabel::High)
    );
}

#[test]
fn the_same_cluster_keeps_its_id_and_the_confirmed_revert_passes_and_resolves() {
    let first = internet_reverted();
    let open_doc = Asff::of(&first, Standing::Open, None, &hub(), LATER_MS);
    let resolved = Asff::of(&first, Standing::Resolved, None, &hub(), LATER_MS + 300_000);
    let json = assert_valid(&resolved);
    assert_eq!(resolved.id, open_doc.id);
    assert_eq!(
        resolved.created_at, open_doc.created_at,
        "CreatedAt stays the event's"
    );
    assert!(resolved.updated_at > open_doc.updated_at);
    assert_eq!(statuses(&json), ("PASSED", "RESOLVED"));
    assert_eq!(json["Severity"]["Label"], "INFORMATIONAL");
    assert_eq!(
        json["Resources"][0]["Details"]["AwsEksCluster"]["ResourcesVpcConfig"]["EndpointPublicAccess"],
        false,
        "as the fix leaves it"
    );
    assert!(json["Title"].as_str().unwrap().contains("reverted"));
    assert!(json["Description"].as_str().unwrap().contains("Successful"));
    // Report mode: the same Id.
    let report = told(
        &open(&["0.0.0.0/0"]),
        &Policy::default(),
        Mode::Report,
        false,
        &Acted::default(),
    );
    assert_eq!(Standing::of(&report), Some(Standing::Open));
    assert_eq!(
        Asff::of(&report, Standing::Open, None, &hub(), LATER_MS).id,
        open_doc.id
    );
}

#[test]
fn extra_ranges_are_medium_and_the_internet_high() {
    let policy = Policy {
        allowed_public_cidrs: vec!["203.0.113.0/24".parse().unwrap()],
    };
    let ranges = told(
        &open(&["203.0.113.0/24", "198.51.100.0/24"]),
        &policy,
        Mode::Enforce,
        false,
        &reverted(),
    );
    let doc = Asff::of(&ranges, Standing::Open, None, &hub(), LATER_MS);
    assert_valid(&doc);
    assert_eq!(doc.severity.label, "MEDIUM");
    assert!(doc.title.contains("outside the allowed"), "{}", doc.title);
    for internet in [vec!["0.0.0.0/0"], vec!["203.0.113.0/24", "::/0"], vec![]] {
        let f = told(&open(&internet), &policy, Mode::Enforce, false, &reverted());
        let doc = Asff::of(&f, Standing::Open, None, &hub(), LATER_MS);
        assert_eq!(doc.severity.label, "HIGH", "{internet:?}");
    }
    // A specific range while the policy allows none: still only ranges.
    let specific = told(
        &open(&["198.51.100.0/24"]),
        &Policy::default(),
        Mode::Enforce,
        false,
        &reverted(),
    );
    assert_eq!(
        Asff::of(&specific, Standing::Open, None, &hub(), LATER_MS)
            .severity
            .label,
        "MEDIUM"
    );
}

#[test]
fn an_exempt_cluster_is_suppressed_and_names_the_tag() {
    let finding = told(
        &open(&["0.0.0.0/0"]),
        &Policy::default(),
        Mode::Enforce,
        true,
        &Acted::default(),
    );
    let standing = Standing::of(&finding).unwrap();
    assert_eq!(standing, Standing::Exempt);
    let exemption = Exemption {
        tag_key: "eks-endpoint-guard/exempt".into(),
        tag_value: "true".into(),
    };
    let doc = Asff::of(&finding, standing, Some(&exemption), &hub(), LATER_MS);
    let json = assert_valid(&doc);
    assert_eq!(statuses(&json), ("FAILED", "SUPPRESSED"));
    assert!(
        doc.description.contains("eks-endpoint-guard/exempt=true"),
        "{}",
        doc.description
    );
    assert_eq!(
        json["ProductFields"]["eks-endpoint-guard/ExemptTag"],
        "eks-endpoint-guard/exempt=true"
    );
}

#[test]
fn a_failed_revert_stays_failed_and_new_with_the_reason() {
    let acted = Acted {
        failed: Some(fixtures::denied_revert()),
        ..reverted()
    };
    let finding = told(
        &open(&["0.0.0.0/0"]),
        &Policy::default(),
        Mode::Enforce,
        false,
        &acted,
    );
    assert_eq!(finding.outcome, Outcome::RevertFailed);
    let standing = Standing::of(&finding).unwrap();
    assert_eq!(standing, Standing::Open);
    let doc = Asff::of(&finding, standing, None, &hub(), LATER_MS);
    let json = assert_valid(&doc);
    assert_eq!(statuses(&json), ("FAILED", "NEW"));
    assert!(
        doc.description.contains("STILL OPEN"),
        "{}",
        doc.description
    );
    assert!(
        doc.description.contains("AccessDenied"),
        "{}",
        doc.description
    );
}

#[test]
fn nothing_is_recorded_for_a_cluster_that_complies_as_read() {
    let closed = EndpointAccess {
        endpoint_public_access: false,
        endpoint_private_access: true,
        public_access_cidrs: vec!["0.0.0.0/0".into()],
    };
    // The call asked to open it; the cluster complies (an earlier revert).
    let (action, verdict) = decide(
        &Policy::default(),
        Mode::Enforce,
        false,
        Some(&open(&["0.0.0.0/0"])),
        &closed,
    );
    let finding = alert::finding(
        &change(),
        Judged {
            cluster_arn: ARN,
            status: "ACTIVE",
            found: Some(&closed),
            verdict: &verdict,
            stack: None,
            exemption: None,
            action: &action,
        },
        Mode::Enforce,
        &Acted::default(),
    );
    assert_eq!(finding.outcome, Outcome::AlreadyCompliant);
    assert_eq!(Standing::of(&finding), None);
    // EKS refused the revert as a no-op: it complied by then.
    let refused = told(
        &open(&["0.0.0.0/0"]),
        &Policy::default(),
        Mode::Enforce,
        false,
        &Acted {
            was_already_desired: true,
            ..Acted::default()
        },
    );
    assert_eq!(Standing::of(&refused), None);
}

#[test]
fn long_texts_are_cut_to_the_limits_and_odd_places_stay_valid() {
    let mut finding = internet_reverted();
    finding.cluster.name = "c".repeat(100);
    finding.action.description = "é".repeat(5000);
    finding.actor.who.principal_arn = Some("p".repeat(3000));
    let doc = Asff::of(&finding, Standing::Open, None, &hub(), LATER_MS);
    assert_valid(&doc);
    assert_eq!(doc.description.chars().count(), MAX_DESCRIPTION_CHARS);
    assert!(doc.description.ends_with('…'), "the cause, cut last");
    assert!(
        doc.description
            .contains("Seen after UpdateClusterConfig by ppp")
    );
    assert!(doc.title.chars().count() <= MAX_TITLE_CHARS);
    // An ISO partition, the sweep (no event), a cause "in the future".
    let mut odd = finding.clone();
    odd.cluster.arn = "arn:aws-iso-b:eks:us-isob-east-1:111122223333:cluster/x".into();
    odd.cluster.region = "us-isob-east-1".into();
    odd.trigger.source = "sweep".into();
    odd.trigger.api_call = "sweep".into();
    odd.trigger.event_id = None;
    odd.trigger.event_time = Some("2099-01-01T00:00:00Z".into());
    odd.links.cloudtrail_event = None;
    odd.links.cluster_console = None;
    odd.actor.who.principal_arn = None;
    let iso = AccountRef {
        partition: "aws-iso-b".into(),
        region: "us-isob-east-1".into(),
        account: "111122223333".into(),
    };
    let doc = Asff::of(&odd, Standing::Open, None, &iso, LATER_MS);
    let json = assert_valid(&doc);
    assert_eq!(
        json["CreatedAt"], json["UpdatedAt"],
        "never after the update"
    );
    assert!(
        json["Resources"][0].get("Partition").is_none(),
        "a partition ASFF does not name is left out"
    );
    assert!(json.get("SourceUrl").is_none());
    assert!(doc.description.contains("sweep"), "{}", doc.description);
}

#[test]
fn the_checker_catches_what_moto_would_accept() {
    let good = json(&Asff::of(
        &internet_reverted(),
        Standing::Open,
        None,
        &hub(),
        LATER_MS,
    ));
    assert!(problems(&good).is_empty());
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut doc = good.clone();
        edit(&mut doc);
        problems(&doc)
    };
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "no title",
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("Title");
            }),
        ),
        (
            "long description",
            Box::new(|d| d["Description"] = Value::from("x".repeat(1025))),
        ),
        (
            "unknown label",
            Box::new(|d| d["Severity"]["Label"] = Value::from("SEVERE")),
        ),
        (
            "type without namespace",
            Box::new(|d| d["Types"] = serde_json::json!(["Vulnerabilities/CVE"])),
        ),
        (
            "no resource",
            Box::new(|d| d["Resources"] = serde_json::json!([])),
        ),
        (
            "bad time",
            Box::new(|d| d["CreatedAt"] = Value::from("yesterday")),
        ),
        (
            "another account's product",
            Box::new(|d| d["AwsAccountId"] = Value::from("444455556666")),
        ),
        (
            "unknown workflow",
            Box::new(|d| d["Workflow"]["Status"] = Value::from("DONE")),
        ),
        (
            "over 240 KB",
            Box::new(|d| d["Note"] = Value::from("x".repeat(MAX_FINDING_BYTES))),
        ),
    ];
    for (case, edit) in cases {
        assert!(!broken(edit.as_ref()).is_empty(), "{case}");
    }
}

#[test]
fn updated_at_always_moves_forward() {
    let hub = SecurityHub::new(aws_sdk_securityhub::Client::from_conf(
        aws_sdk_securityhub::Config::builder()
            .behavior_version(aws_sdk_securityhub::config::BehaviorVersion::latest())
            .build(),
    ));
    let times: Vec<u64> = (0..100).map(|_| hub.next_updated_at_ms()).collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
    assert_eq!(timestamp(1_795_413_900_007), "2026-11-23T06:05:00.007Z");
    assert_eq!(timestamp(1_795_413_901_250), "2026-11-23T06:05:01.250Z");
    let texts: Vec<String> = times.iter().map(|t| timestamp(*t)).collect();
    assert!(texts.windows(2).all(|w| w[1] > w[0]), "{texts:?}");
}

#[test]
fn security_hub_is_off_unless_asked_for() {
    let config = |value: Option<&str>| {
        Config::from_lookup(|key| match key {
            "ALERT_TOPIC_ARN" => Some("arn:aws:sns:eu-west-1:111122223333:alerts".into()),
            "SECURITY_HUB" => value.map(str::to_string),
            _ => None,
        })
    };
    assert!(!config(None).unwrap().security_hub);
    assert!(config(Some("TRUE")).unwrap().security_hub);
    assert!(!config(Some("false")).unwrap().security_hub);
    let err = config(Some("yes")).unwrap_err().to_string();
    assert!(err.starts_with("SECURITY_HUB"), "{err}");
}
