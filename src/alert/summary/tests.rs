//! Every view of the sweep's summary: subject, email text, Chatbot card,
//! machine JSON, and the whole message at 1,000 clusters.

use super::*;

fn head(mode: Mode) -> ReportHead {
    ReportHead {
        account: "111122223333".into(),
        region: "eu-west-1".into(),
        slice: None,
        sweep_time: Some("2026-12-04T10:00:00Z".into()),
        mode,
        period_minutes: 60,
        counts: Counts {
            seen: 40,
            reverted: 2,
            reported: 0,
            exempt: 1,
            pending: 1,
            failed: 0,
        },
    }
}

fn line(cluster: &str, done: Done, new: bool) -> ClusterLine {
    ClusterLine {
        cluster: cluster.into(),
        account: "444455556666".into(),
        region: "eu-west-1".into(),
        done,
        what: match done {
            Done::Reverted => "reverted (EKS update u-1)".into(),
            Done::WouldRevert => "would revert (endpointPublicAccess=false)".into(),
            Done::Exempt => "exempt until 2026-12-06T00:00:00Z".into(),
            Done::Pending => "pending, still open: update u-9 in progress".into(),
        },
        open_since: new.then(|| "2026-12-04T09:30:00Z".to_string()),
        new,
    }
}

fn ending(cluster: &str, new: bool) -> ExpiringExemption {
    ExpiringExemption {
        cluster: cluster.into(),
        account: "444455556666".into(),
        region: "eu-west-1".into(),
        end: "2026-12-06T00:00:00Z".into(),
        set_by: None,
        new,
    }
}

fn small() -> SweepReport {
    SweepReport::new(
        head(Mode::Enforce),
        vec![
            line("old-open", Done::Reverted, false),
            line("busy", Done::Pending, false),
            line("fresh", Done::Reverted, true),
            line("kept", Done::Exempt, false),
        ],
        vec![ending("kept", true)],
    )
}

/// 1,000 open clusters with names of EKS's longest (100 characters).
fn huge() -> SweepReport {
    let lines = (0..1000)
        .map(|i| {
            let name = format!("{i:04}-{}", "x".repeat(95));
            line(&name, Done::Reverted, i % 10 == 0)
        })
        .collect();
    let ending = (0..200)
        .map(|i| ending(&format!("exempt-{i:03}-{}", "y".repeat(80)), false))
        .collect();
    SweepReport::new(head(Mode::Enforce), lines, ending)
}

#[test]
fn new_clusters_come_first_and_are_counted() {
    let report = small();
    let order: Vec<&str> = report.clusters.iter().map(|c| c.cluster.as_str()).collect();
    assert_eq!(order, ["fresh", "busy", "old-open", "kept"]);
    assert_eq!((report.open, report.new), (4, 1));
}

#[test]
fn the_subject_is_short_ascii_and_counts() {
    let subject = small().subject();
    assert!(
        subject.len() <= MAX_SUBJECT_LEN && subject.is_ascii(),
        "{subject}"
    );
    assert!(subject.contains("4 public endpoint(s), 1 new"), "{subject}");
    let subject = huge().subject();
    assert!(subject.len() <= MAX_SUBJECT_LEN, "{subject}");
    assert!(
        subject.contains("1000 public endpoint(s), 100 new"),
        "{subject}"
    );
}

#[test]
fn the_email_lists_every_cluster_with_what_was_done_and_since_when() {
    let text = small().email_text();
    for needle in [
        "4 cluster(s) with a public API endpoint",
        "1 new since the previous sweep (opened within the last 60 minutes)",
        "  - NEW fresh (444455556666 / eu-west-1): reverted (EKS update u-1); open since 2026-12-04T09:30:00Z",
        "  - busy (444455556666 / eu-west-1): pending, still open: update u-9 in progress; open since unknown",
        "  - kept (444455556666 / eu-west-1): exempt until 2026-12-06T00:00:00Z",
        "Exemptions that end within 3 days",
        "  - kept (444455556666 / eu-west-1): exempt until 2026-12-06T00:00:00Z, tag set by unknown (see the TagResource call in CloudTrail)",
        "40 seen, 2 reverted, 0 report-only, 1 exempt, 1 pending",
    ] {
        assert!(text.contains(needle), "lacks {needle:?}:\n{text}");
    }
    assert!(!text.contains("more not listed"), "{text}");
    // New ones first.
    assert!(text.find("NEW fresh").unwrap() < text.find("old-open").unwrap());
}

#[test]
fn the_email_of_a_thousand_says_how_many_it_left_out_and_where() {
    let report = huge();
    let text = report.email_text();
    assert!(text.len() <= EMAIL_BUDGET + 4_000, "{}", text.len());
    let listed = text
        .lines()
        .filter(|l| l.starts_with("  - ") && l.contains("xxxx"))
        .count();
    assert!(listed > 100 && listed < 1000, "{listed}");
    let more = format!("... and {} more not listed here", 1000 - listed);
    assert!(text.contains(&more), "lacks {more:?}");
    assert!(
        text.contains("\"audience\": [\"machines\"]")
            && text.contains("Security Hub")
            && text.contains("Logs Insights")
    );
    // Every listed one before any unlisted: the new ones (every tenth) lead.
    let first_old = text
        .lines()
        .position(|l| l.starts_with("  - 0001-"))
        .unwrap();
    let last_new = text
        .lines()
        .position(|l| l.starts_with("  - NEW 0990-"))
        .unwrap();
    assert!(last_new < first_old);
}

#[test]
fn the_card_is_a_chatbot_custom_notification_within_its_limits() {
    let card = small().chatbot_notification();
    assert_eq!(
        (card["version"].as_str(), card["source"].as_str()),
        (Some("1.0"), Some("custom"))
    );
    let title = card["content"]["title"].as_str().unwrap();
    assert!(title.contains("4 public endpoint(s), 1 new"), "{title}");
    let description = card["content"]["description"].as_str().unwrap();
    assert!(
        description.contains("• NEW fresh (444455556666 / eu-west-1): reverted (EKS update u-1)"),
        "{description}"
    );
    assert!(
        description.contains("*1 exemption(s) end within 3 days*, first kept"),
        "{description}"
    );
    assert!(!description.contains("more:"), "{description}");
    assert_eq!(card["metadata"]["eventType"], "sweep-summary");

    let card = huge().chatbot_notification();
    let description = card["content"]["description"].as_str().unwrap();
    assert!(
        description.chars().count() <= CHAT_DESCRIPTION_CHARS,
        "{}",
        description.len()
    );
    assert!(card["content"]["title"].as_str().unwrap().chars().count() <= CHAT_TITLE_CHARS);
    let listed = description.matches("\n• ").count();
    assert!(listed >= 10, "{listed}");
    assert!(
        description.contains(&format!(
            "... and {} more: every cluster has its own finding",
            1000 - listed
        )),
        "{description}"
    );
}

#[test]
fn the_machine_view_reads_back_and_names_what_it_left_out() {
    let report = small();
    let machine = report.machine_view();
    assert_eq!(machine, report, "a small summary is whole");
    let back: SweepReport =
        serde_json::from_str(&serde_json::to_string(&machine).unwrap()).unwrap();
    assert_eq!(back, report);
    let json = serde_json::to_value(&machine).unwrap();
    assert_eq!(json["schema"], SUMMARY_SCHEMA);
    assert_eq!(json["clusters"][0]["done"], "reverted");
    assert_eq!(json["clusters"][0]["openSince"], "2026-12-04T09:30:00Z");
    assert_eq!(json["expiring"][0]["new"], true);

    let report = huge();
    let machine = report.machine_view();
    assert!(machine.clusters.len() > 50 && machine.clusters.len() < 1000);
    assert_eq!(machine.clusters.len() + machine.omitted_clusters, 1000);
    assert_eq!(machine.expiring.len() + machine.omitted_exemptions, 200);
    assert_eq!(
        (machine.open, machine.new),
        (1000, 100),
        "the counts stay whole"
    );
    assert!(serde_json::to_string(&machine).unwrap().len() <= MACHINE_BUDGET + 1_000);
}

#[test]
fn a_thousand_clusters_fit_one_publish_with_every_view() {
    let message = huge().message().expect("fits");
    assert!(
        message.len() < MAX_PUBLISH_BYTES - 4_096,
        "{}",
        message.len()
    );
    let views: serde_json::Value = serde_json::from_str(&message).unwrap();
    for key in ["default", "sqs", "lambda", "email-json"] {
        let machine: SweepReport = serde_json::from_str(views[key].as_str().unwrap()).unwrap();
        assert_eq!(machine.open, 1000, "{key}");
    }
    assert!(
        views["email"]
            .as_str()
            .unwrap()
            .contains("more not listed here")
    );
    let card: serde_json::Value = serde_json::from_str(views["https"].as_str().unwrap()).unwrap();
    assert_eq!(card["source"], "custom");
    println!(
        "sweep summary of 1,000 clusters: {} bytes in one Publish",
        message.len()
    );
}

#[test]
fn only_open_endpoints_and_newly_ending_exemptions_are_news() {
    let exempt_only = SweepReport::new(
        head(Mode::Report),
        vec![line("kept", Done::Exempt, false)],
        vec![],
    );
    assert!(
        !exempt_only.is_news(),
        "an exempt cluster alone was alerted when exempted"
    );
    let ending_again = SweepReport::new(
        head(Mode::Report),
        vec![line("kept", Done::Exempt, false)],
        vec![ending("kept", false)],
    );
    assert!(
        !ending_again.is_news(),
        "listed once when it came within 3 days"
    );
    let ending_now = SweepReport::new(
        head(Mode::Report),
        vec![line("kept", Done::Exempt, false)],
        vec![ending("kept", true)],
    );
    assert!(ending_now.is_news());
    for done in [Done::Reverted, Done::WouldRevert, Done::Pending] {
        assert!(
            SweepReport::new(head(Mode::Report), vec![line("c", done, false)], vec![]).is_news(),
            "{done:?}"
        );
    }
    assert!(!SweepReport::new(head(Mode::Report), vec![], vec![]).is_news());
}

#[test]
fn attributes_name_the_summary_and_its_mode() {
    let attributes = SweepReport::new(head(Mode::Report), vec![], vec![]).attributes();
    assert!(attributes.contains(&("action", "sweep-summary".to_string())));
    assert!(attributes.contains(&("mode", "report".to_string())));
}
