use super::views::{attributes, chatbot_notification};
use super::*;
use crate::event::{ClusterChange, Origin};
use crate::fixtures::{self, change};
use crate::policy::{EndpointFix, Policy, decide, evaluate};
use serde_json::json;

fn open() -> EndpointAccess {
    fixtures::open(&["0.0.0.0/0"])
}

const ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu";

fn reverted(name: &str) -> Finding {
    acted_on(name, ARN, &revert_started())
}

fn revert_started() -> Acted {
    Acted {
        update_id: Some("rev-9".into()),
        ..Acted::default()
    }
}

fn acted_on(name: &str, arn: &str, acted: &Acted) -> Finding {
    OpenCluster {
        arn,
        ..OpenCluster::new(change(name))
    }
    .told(acted)
}

/// A cluster found open to the internet, judged under the default policy:
/// what the tests vary about the judgement.
struct OpenCluster<'a> {
    change: ClusterChange,
    arn: &'a str,
    /// What the call asked for, as `decide` takes it.
    requested: Option<EndpointAccess>,
    exempt: bool,
    exemption: Option<&'a ExemptionRef>,
    stack: Option<&'a str>,
    mode: Mode,
}

impl OpenCluster<'_> {
    fn new(change: ClusterChange) -> Self {
        OpenCluster {
            change,
            arn: ARN,
            requested: Some(open()),
            exempt: false,
            exemption: None,
            stack: None,
            mode: Mode::Enforce,
        }
    }

    /// Decided, then told as the guard would after `acted`.
    fn told(&self, acted: &Acted) -> Finding {
        let found = open();
        let (action, verdict) = decide(
            &Policy::default(),
            self.mode,
            self.exempt,
            self.requested.as_ref(),
            &found,
        );
        finding(
            &self.change,
            Judged {
                cluster_arn: self.arn,
                status: "ACTIVE",
                found: Some(&found),
                verdict: &verdict,
                action: &action,
                exemption: self.exemption,
                stack: self.stack,
            },
            self.mode,
            acted,
        )
    }
}

#[test]
fn the_finding_carries_everything_a_responder_needs() {
    let f = reverted("prod-eu");
    assert_eq!(f.outcome, Outcome::Reverted);
    assert_eq!(f.cluster.arn, ARN);
    assert_eq!(f.action.update_id.as_deref(), Some("rev-9"));
    assert_eq!(
        f.action
            .resulting
            .as_ref()
            .map(|r| r.endpoint_public_access),
        Some(false)
    );
    assert!(
        f.links
            .cluster_console
            .as_deref()
            .unwrap()
            .contains("eu-west-1.console.aws.amazon.com/eks")
    );
    assert!(
        f.links
            .cloudtrail_event
            .as_deref()
            .unwrap()
            .ends_with("#/events/ev-1")
    );
    assert_eq!(
        f.action.fix.as_deref(),
        Some(EndpointFix::ClosePublicEndpoint.describe().as_str())
    );
}

#[test]
fn every_protocol_gets_its_view() {
    let f = reverted("prod-eu");
    let views: serde_json::Value = serde_json::from_str(&message(&f).unwrap()).unwrap();
    for key in ["default", "sqs", "lambda", "email", "https"] {
        assert!(views[key].is_string(), "{key} view missing");
    }
    let machine: serde_json::Value = serde_json::from_str(views["sqs"].as_str().unwrap()).unwrap();
    assert_eq!(machine["schema"], FINDING_SCHEMA);
    assert_eq!(machine["actor"]["sourceIp"], "198.51.100.23");

    let email = views["email"].as_str().unwrap();
    for needle in fixtures::NAMED_IN_EVERY_VIEW.into_iter().chain([
        "prod-eu",
        "arn:aws:sts::111122223333:assumed-role/Admin/jane",
        "session jane",
        "aws-cli/2.22.0",
        "rev-9",
        "111122223333",
        "eu-west-1",
        "#/events/ev-1",
    ]) {
        assert!(email.contains(needle), "email lacks {needle}:\n{email}");
    }

    let chat: serde_json::Value = serde_json::from_str(views["https"].as_str().unwrap()).unwrap();
    assert_eq!(chat["version"], "1.0");
    assert_eq!(chat["source"], "custom");
    assert_eq!(chat, chatbot_notification(&f), "the https view is the card");
    let (title, description) = card(&f);
    assert!(title.contains("prod-eu"), "{title}");
    assert!(description.contains("jane"), "{description}");
}

#[test]
fn subject_names_cluster_and_outcome_within_100_characters() {
    let short = subject(&reverted("prod-eu"));
    assert!(
        short.contains("prod-eu") && short.contains("Reverted"),
        "{short}"
    );
    let long_name = "a".repeat(100);
    let long = subject(&reverted(&long_name));
    assert!(long.len() <= MAX_SUBJECT_LEN, "{} characters", long.len());
    assert!(long.starts_with("[EKS guard] Reverted"));
}

#[test]
fn attributes_allow_filter_policies() {
    let names: Vec<(&str, String)> = attributes(&reverted("prod-eu"));
    for (key, value) in [
        ("action", "reverted"),
        ("account", "111122223333"),
        ("region", "eu-west-1"),
        ("cluster", "prod-eu"),
    ] {
        assert!(names.contains(&(key, value.to_string())), "{key}");
    }
}

#[test]
fn the_cluster_arn_is_built_in_the_functions_partition_not_guessed_from_the_region() {
    let mut c = change("iso-cluster");
    c.region = "us-isob-east-1".into();
    let arn = cluster_arn(&c, None, "aws-iso-b");
    assert_eq!(
        arn,
        "arn:aws-iso-b:eks:us-isob-east-1:111122223333:cluster/iso-cluster"
    );
    assert_eq!(cluster_arn(&c, Some(ARN), "aws-iso-b"), ARN);
    // No console link is made up for a partition whose console is unknown.
    let f = acted_on("iso-cluster", &arn, &revert_started());
    assert_eq!(f.links.cluster_console, None);
    assert_eq!(f.links.cloudtrail_event, None);
    let gov = acted_on(
        "gov",
        "arn:aws-us-gov:eks:us-gov-west-1:111122223333:cluster/gov",
        &revert_started(),
    );
    assert!(
        gov.links
            .cluster_console
            .unwrap()
            .contains(".console.amazonaws-us-gov.com/eks")
    );
    assert!(!email_text(&f).contains("https://"));
}

#[test]
fn a_failed_revert_says_plainly_that_the_endpoint_is_still_open() {
    let acted = Acted {
        update_id: Some("rev-9".into()),
        failed: Some(fixtures::denied_revert()),
        ..Acted::default()
    };
    let f = acted_on("prod-eu", ARN, &acted);
    assert_eq!(f.outcome, Outcome::RevertFailed);
    assert_eq!(f.action.errors[0].code, "AccessDenied");
    assert_eq!(f.action.resulting, None, "nothing resulted");
    assert!(subject(&f).contains("REVERT FAILED"), "{}", subject(&f));
    let email = email_text(&f);
    for needle in [
        "STILL OPEN",
        "rev-9",
        "Failed",
        "AccessDenied: the cluster role may not change the endpoint",
    ] {
        assert!(email.contains(needle), "email lacks {needle}:\n{email}");
    }
    let (title, description) = card(&f);
    assert!(title.contains("FAILED"), "{title}");
    assert!(description.contains("AccessDenied"), "{description}");
    let machine: Finding = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
    assert_eq!(machine, f);
    assert!(attributes(&f).contains(&("action", "revert-failed".to_string())));
}

#[test]
fn a_change_out_of_reach_is_told_with_what_to_configure() {
    let f = not_handled_finding(
        &change("elsewhere"),
        ARN,
        "account 111122223333 is not the function's own and REMEDIATION_ROLE_NAME is not set",
        Mode::Enforce,
    );
    assert_eq!(f.outcome, Outcome::NotHandled);
    assert_eq!(f.found, None);
    let email = email_text(&f);
    for needle in ["NOT HANDLED", "REMEDIATION_ROLE_NAME", "jane", "ev-1"] {
        assert!(email.contains(needle), "email lacks {needle}:\n{email}");
    }
    assert!(subject(&f).contains("NOT handled"));
    assert!(attributes(&f).contains(&("action", "not-handled".to_string())));
}

#[test]
fn unreadable_requested_settings_are_said_so() {
    let mut c = change("prod-eu");
    c.requested = None;
    c.requested_unreadable = Some("publicAccessCidrs has a JSON number entry".into());
    let f = OpenCluster {
        requested: None,
        ..OpenCluster::new(c)
    }
    .told(&revert_started());
    let email = email_text(&f);
    assert!(
        email.contains("Requested:    unreadable, publicAccessCidrs has a JSON number entry"),
        "{email}"
    );
    let (_, description) = card(&f);
    assert!(description.contains("unreadable"), "{description}");
    let machine: serde_json::Value = serde_json::to_value(&f).unwrap();
    assert_eq!(
        machine["requestedUnreadable"],
        "publicAccessCidrs has a JSON number entry"
    );
}

/// 2026-12-01T10:00:00Z.
const NOW: i64 = 1_796_119_200;
const TAG: &str = "eks-endpoint-guard/exempt";

#[test]
fn a_cluster_whose_exemption_ended_is_reverted_saying_so() {
    let value = "2026-11-30T18:00:00Z";
    let read = policy::exemption(Some(value), NOW, 30);
    let tag = ExemptionRef::new(TAG, value, &read);
    let f = OpenCluster {
        exempt: read.is_active(),
        exemption: Some(&tag),
        ..OpenCluster::new(change("prod-eu"))
    }
    .told(&revert_started());
    assert_eq!(f.outcome, Outcome::Reverted);
    assert!(
        f.action.description.starts_with("reverted: set")
            && f.action.description.ends_with(
                "to apply). The exemption ended on 2026-11-30T18:00:00Z: the cluster is judged like any other."
            ),
        "{}",
        f.action.description
    );
    let machine = serde_json::to_value(&f).unwrap();
    assert_eq!(
        machine["exemption"],
        json!({
            "tag": TAG,
            "value": value,
            "state": "ended",
            "end": "2026-11-30T18:00:00Z",
            "note": "The exemption ended on 2026-11-30T18:00:00Z: the cluster is judged like any other."
        })
    );
    let email = email_text(&f);
    assert!(
        email.contains(
            "Exemption:    eks-endpoint-guard/exempt=2026-11-30T18:00:00Z: not exempt, the exemption ended on 2026-11-30T18:00:00Z"
        ),
        "{email}"
    );
    let (_, description) = card(&f);
    assert!(
        description
            .contains("*Exemption:* eks-endpoint-guard/exempt=2026-11-30T18:00:00Z: not exempt")
            && description.contains("The exemption ended on"),
        "{description}"
    );
    // Without an exempt tag the finding has no exemption field at all.
    assert!(
        serde_json::to_value(reverted("prod-eu"))
            .unwrap()
            .get("exemption")
            .is_none()
    );
}

#[test]
fn an_exempt_cluster_is_told_with_its_end() {
    let read = policy::exemption(Some("2026-12-24T19:00:00+01:00"), NOW, 30);
    let tag = ExemptionRef::new(TAG, "2026-12-24T19:00:00+01:00", &read);
    let f = OpenCluster {
        requested: None,
        exempt: read.is_active(),
        exemption: Some(&tag),
        ..OpenCluster::new(change("prod-eu"))
    }
    .told(&Acted::default());
    assert_eq!(f.outcome, Outcome::Exempt);
    assert!(
        f.action
            .description
            .ends_with("Exempt until 2026-12-24T18:00:00Z."),
        "{}",
        f.action.description
    );
    assert!(email_text(&f).contains(
        "Exemption:    eks-endpoint-guard/exempt=2026-12-24T19:00:00+01:00: exempt until 2026-12-24T18:00:00Z"
    ));
}

#[test]
fn the_tamper_alert_states_the_end_or_why_it_does_not_count() {
    let found = open();
    let verdict = evaluate(&Policy::default(), &found);
    let tamper = |value: Option<&str>| {
        let read = value.map(|v| (v, policy::exemption(Some(v), NOW, 30)));
        exemption_finding(
            &change("prod-eu"),
            ARN,
            TAG,
            read.as_ref().map(|(v, e)| (*v, e)),
            Some(("ACTIVE", &found, &verdict)),
            Mode::Enforce,
        )
    };
    // (value, outcome, what the description says, the subject's prefix)
    let cases = [
        (
            Some("2026-12-24T18:00:00Z"),
            Outcome::ExemptionGranted,
            "exempt until 2026-12-24T18:00:00Z; until then the guard only reports it",
            "[EKS guard] Exemption GRANTED",
        ),
        (
            Some("2026-12-24"),
            Outcome::ExemptionGranted,
            "exempt until 2026-12-25T00:00:00Z",
            "[EKS guard] Exemption GRANTED",
        ),
        (
            Some("true"),
            Outcome::ExemptionGranted,
            "exempt with no end",
            "[EKS guard] Exemption GRANTED",
        ),
        (
            Some("2027-06-01"),
            Outcome::ExemptionRevoked,
            "but it does not exempt: the exemption's end 2027-06-02T00:00:00Z is more than 30 days ahead",
            "[EKS guard] Exemption NOT honoured",
        ),
        (
            Some("yes"),
            Outcome::ExemptionRevoked,
            "but it does not exempt: the exempt tag's value `yes` was not understood",
            "[EKS guard] Exemption NOT honoured",
        ),
        (
            Some("2026-11-01"),
            Outcome::ExemptionRevoked,
            "but it does not exempt: its end 2026-11-02T00:00:00Z has already passed",
            "[EKS guard] Exemption NOT honoured",
        ),
        (
            Some("false"),
            Outcome::ExemptionRevoked,
            "=false put on the cluster: not exempt; the guard enforces the policy",
            "[EKS guard] Exemption removed",
        ),
        (
            None,
            Outcome::ExemptionRevoked,
            "taken off: the guard enforces the policy on this cluster again",
            "[EKS guard] Exemption removed",
        ),
    ];
    for (value, outcome, says, prefix) in cases {
        let f = tamper(value);
        assert_eq!(f.outcome, outcome, "{value:?}");
        assert!(
            f.action.description.contains(says),
            "{value:?}: {}",
            f.action.description
        );
        assert!(
            subject(&f).starts_with(prefix),
            "{value:?}: {}",
            subject(&f)
        );
        assert_eq!(
            f.exemption.as_ref().map(|e| e.value.as_str()),
            value,
            "{value:?}"
        );
        let email = email_text(&f);
        assert!(email.contains(says), "{value:?}: {email}");
        assert!(
            email.contains("Who:          arn:aws:sts::111122223333:assumed-role/Admin/jane"),
            "{email}"
        );
    }
    assert!(tamper(Some("yes")).summary.contains("NOT honoured"));
    assert_eq!(
        tamper(Some("2026-12-24")).exemption.unwrap().end.as_deref(),
        Some("2026-12-25T00:00:00Z")
    );
}

#[test]
fn a_note_learnt_on_the_way_reaches_the_description() {
    let acted = Acted {
        note: Some("The last attempt to close it (update u-0) ended Failed.".into()),
        ..revert_started()
    };
    let f = acted_on("prod-eu", ARN, &acted);
    assert_eq!(f.outcome, Outcome::Reverted);
    assert!(f.action.description.ends_with("update u-0) ended Failed."));
}

#[test]
fn repeat_openings_reach_every_view() {
    let acted = Acted {
        history: Some(Openings {
            opened_last_24h: 3,
            opened_last_7d: 5,
            open_since: None,
        }),
        ..revert_started()
    };
    let f = acted_on("prod-eu", ARN, &acted);
    let said = "opened 3 times in the last 24 hours, 5 times in the last 7 days";
    assert!(email_text(&f).contains(&format!("History:      {said}")));
    let (_, description) = card(&f);
    assert!(description.contains(said), "{description}");
    let machine: serde_json::Value = serde_json::to_value(&f).unwrap();
    assert_eq!(machine["history"]["openedLast24h"], 3);
    assert_eq!(machine["history"]["openedLast7d"], 5);
    // Not read: not claimed.
    let unread = serde_json::to_value(reverted("prod-eu")).unwrap();
    assert!(unread.get("history").is_none());
    assert!(!email_text(&reverted("prod-eu")).contains("History:"));
}

const TERRAFORM: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6";
const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36";

fn change_by(user_agent: &str) -> ClusterChange {
    let mut c = change("prod-eu");
    c.actor.user_agent = Some(user_agent.to_string());
    c
}

/// The finding of each alert kind, for a change made with `user_agent`
/// to a cluster that `stack` manages.
fn every_kind(user_agent: &str, stack: Option<&str>) -> Vec<Finding> {
    let c = change_by(user_agent);
    let found = open();
    let policy = Policy::default();
    let decided = |mode, exempt| decide(&policy, mode, exempt, Some(&found), &found);
    let judged = |(action, verdict): &(Action, Verdict), acted: &Acted, mode| {
        finding(
            &c,
            Judged {
                cluster_arn: ARN,
                status: "ACTIVE",
                found: Some(&found),
                verdict,
                action,
                stack,
                exemption: None,
            },
            mode,
            acted,
        )
    };
    let enforce = decided(Mode::Enforce, false);
    let failed = Acted {
        failed: Some(FailedRevert {
            update_id: "rev-9".into(),
            status: "Failed".into(),
            errors: Vec::new(),
        }),
        ..revert_started()
    };
    let compliant = (Action::AlreadyCompliant, Verdict::Compliant);
    let state = Some(("ACTIVE", &found, &enforce.1));
    vec![
        judged(&enforce, &revert_started(), Mode::Enforce),
        judged(&enforce, &failed, Mode::Enforce),
        judged(
            &decided(Mode::Report, false),
            &Acted::default(),
            Mode::Report,
        ),
        judged(
            &decided(Mode::Enforce, true),
            &Acted::default(),
            Mode::Enforce,
        ),
        judged(&compliant, &Acted::default(), Mode::Enforce),
        exemption_finding(
            &c,
            ARN,
            "eks-endpoint-guard/exempt",
            Some(("true", &Exemption::Forever)),
            state,
            Mode::Enforce,
        ),
        exemption_finding(
            &c,
            ARN,
            "eks-endpoint-guard/exempt",
            None,
            state,
            Mode::Enforce,
        ),
        not_handled_finding(&c, ARN, "region eu-west-1 is not guarded", Mode::Enforce),
    ]
}

/// The Chatbot card's title and description.
fn card(f: &Finding) -> (String, String) {
    let chat = chatbot_notification(f);
    let text = |field: &str| chat["content"][field].as_str().unwrap().to_string();
    (text("title"), text("description"))
}

fn chat_text(f: &Finding) -> (String, Vec<String>) {
    let chat = chatbot_notification(f);
    let steps = chat["content"]["nextSteps"]
        .as_array()
        .expect("nextSteps is a list")
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    (
        chat["content"]["description"].as_str().unwrap().to_string(),
        steps,
    )
}

#[test]
fn every_view_of_every_alert_kind_shows_the_tool_and_what_comes_next() {
    let findings = every_kind(TERRAFORM, None);
    let outcomes: Vec<&str> = findings.iter().map(|f| f.outcome.label()).collect();
    assert_eq!(
        outcomes,
        [
            "reverted",
            "revert-failed",
            "would-revert",
            "exempt",
            "already-compliant",
            "exemption-granted",
            "exemption-revoked",
            "not-handled",
        ]
    );
    for f in &findings {
        let kind = f.outcome;
        assert!(!f.next_steps.is_empty(), "{kind}: no next step");
        let email = email_text(f);
        assert!(
            email.contains("Tool:         Terraform"),
            "{kind}:\n{email}"
        );
        assert!(
            email.contains(&format!("Next:         {}", f.next_steps[0])),
            "{kind}:\n{email}"
        );
        for step in &f.next_steps {
            assert!(email.contains(step.as_str()), "{kind}: email lacks {step}");
        }
        let (description, steps) = chat_text(f);
        assert!(
            description.contains("*Tool:* Terraform"),
            "{kind}: {description}"
        );
        assert_eq!(
            steps, f.next_steps,
            "{kind}: the card's steps are the finding's"
        );
        let machine = serde_json::to_value(f).unwrap();
        assert_eq!(machine["actor"]["tool"]["id"], "terraform", "{kind}");
        assert_eq!(machine["actor"]["tool"]["infrastructureAsCode"], true);
        assert_eq!(
            machine["nextSteps"].as_array().unwrap().len(),
            f.next_steps.len()
        );
        assert!(
            attributes(f).contains(&("tool", "terraform".to_string())),
            "{kind}"
        );
        // The code is named wherever the endpoint's settings are at stake.
        let names_the_code = matches!(
            kind,
            Outcome::Reverted
                | Outcome::RevertFailed
                | Outcome::WouldRevert
                | Outcome::AlreadyCompliant
                | Outcome::NotHandled
        );
        assert_eq!(!f.iac.is_empty(), names_the_code, "{kind}: {:?}", f.iac);
        if names_the_code {
            assert_eq!(machine["iac"][0]["tool"], "terraform");
            assert_eq!(machine["iac"][0]["resource"], "aws_eks_cluster");
            assert!(
                email.contains("vpc_config.endpoint_public_access = false"),
                "{kind}:\n{email}"
            );
            assert!(
                steps
                    .iter()
                    .any(|s| s.contains("vpc_config.endpoint_public_access"))
            );
        }
    }
    // A revert is undone by the next apply unless the code changes.
    assert!(findings[0].next_steps[0].contains("next `terraform apply`"));
    assert!(findings[0].next_steps[0].contains("unless the code changes"));
    // A failed revert says first that the endpoint is still open.
    assert!(findings[1].next_steps[0].contains("still open"));
}

#[test]
fn a_change_in_the_console_or_the_cli_has_no_infrastructure_warning() {
    for (user_agent, says) in [
        (BROWSER, "AWS console"),
        ("aws-cli/2.22.0 md/awscrt#0.22.0", "AWS CLI"),
    ] {
        for f in every_kind(user_agent, None) {
            let kind = f.outcome;
            assert!(f.iac.is_empty(), "{kind}: {:?}", f.iac);
            let email = email_text(&f);
            assert!(
                email.contains(&format!("Tool:         {says}")),
                "{kind}:\n{email}"
            );
            for word in ["apply`", "drift", "in the code", "stack"] {
                assert!(!email.contains(word), "{kind}: {word}:\n{email}");
            }
            let (description, _) = chat_text(&f);
            assert!(description.contains(&format!("*Tool:* {says}")));
        }
    }
}

#[test]
fn a_stack_tagged_cluster_gets_the_drift_warning_in_every_view() {
    let f = &every_kind(BROWSER, Some("payments-prod"))[0];
    assert_eq!(f.outcome, Outcome::Reverted);
    let [advice] = f.iac.as_slice() else {
        panic!("{:?}", f.iac)
    };
    assert_eq!(advice.tool, "cloudformation");
    assert_eq!(advice.source, "stack-tag");
    let warning = "The revert makes CloudFormation stack payments-prod drift";
    let email = email_text(f);
    assert!(email.contains(warning), "{email}");
    assert!(
        email.contains("ResourcesVpcConfig.EndpointPublicAccess: false"),
        "{email}"
    );
    let (_, steps) = chat_text(f);
    assert!(steps[0].contains(warning), "{steps:?}");
    let machine = serde_json::to_value(f).unwrap();
    assert_eq!(machine["iac"][0]["stack"], "payments-prod");
    assert_eq!(machine["iac"][0]["resource"], "AWS::EKS::Cluster");
    // Report mode changed nothing: no drift, but the template is named.
    let report = &every_kind(BROWSER, Some("payments-prod"))[2];
    assert_eq!(report.outcome, Outcome::WouldRevert);
    assert!(!email_text(report).contains(warning));
    assert!(
        report.next_steps[0]
            .starts_with("CloudFormation stack payments-prod asks for this endpoint"),
        "{:?}",
        report.next_steps
    );
}

#[test]
fn the_sweep_names_no_tool_but_still_the_stack() {
    let mut c = change("prod-eu");
    c.origin = Origin::Sweep;
    c.actor = Actor::default();
    c.event_id = None;
    let f = OpenCluster {
        requested: None,
        stack: Some("payments-prod"),
        ..OpenCluster::new(c)
    }
    .told(&revert_started());
    assert_eq!(f.actor.tool, None);
    assert_eq!(
        serde_json::to_value(&f).unwrap()["actor"]["tool"],
        serde_json::Value::Null
    );
    let email = email_text(&f);
    assert!(
        email.contains("Tool:         unknown (found by the sweep"),
        "{email}"
    );
    assert!(email.contains("stack payments-prod drift"), "{email}");
    assert!(
        f.next_steps
            .iter()
            .any(|s| s.contains("Found by the sweep"))
    );
    assert!(attributes(&f).contains(&("tool", "none".to_string())));
}

#[test]
fn the_finding_schema_only_grows() {
    let f = reverted("prod-eu");
    let machine = serde_json::to_value(&f).unwrap();
    // The actor's fields stay where they were; the tool is added beside them.
    for key in [
        "identityType",
        "principalArn",
        "roleArn",
        "sessionName",
        "accountId",
        "invokedBy",
        "sourceIp",
        "userAgent",
        "tool",
    ] {
        assert!(
            machine["actor"].get(key).is_some(),
            "actor.{key} missing: {machine:#}"
        );
    }
    assert_eq!(machine["actor"]["tool"]["id"], "aws-cli");
    assert!(machine["iac"].is_array() && machine["nextSteps"].is_array());
    // A finding written before the tool was added still reads.
    let mut old = machine.clone();
    let object = old.as_object_mut().unwrap();
    object.remove("iac");
    object.remove("nextSteps");
    object["actor"].as_object_mut().unwrap().remove("tool");
    let read: Finding = serde_json::from_value(old).unwrap();
    assert_eq!(read.actor.tool, None);
    assert_eq!(read.actor.principal_arn, f.actor.principal_arn);
    assert!(read.iac.is_empty() && read.next_steps.is_empty());
    // And a new one reads back whole.
    let back: Finding = serde_json::from_value(machine).unwrap();
    assert_eq!(back, f);
}
