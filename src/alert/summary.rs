//! The sweep's summary for people: one message per sweep (or sweep slice)
//! instead of one per cluster, rendered for email, for an AWS Chatbot card
//! and as JSON (schema `eks-endpoint-guard/sweep-summary/v1`). Pure.
//!
//! Every view fits its medium, whatever the number of clusters: the email
//! and the JSON list what fits their budget, the card fewer, and each says
//! how many it left out and where the rest is (the per-cluster findings for
//! machines, Security Hub, the function's log). The budgets keep the whole
//! `Publish` (the JSON copy four times: `default`, `sqs`, `lambda`,
//! `email-json`) far below SNS's 256 KB.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{MAX_SUBJECT_LEN, views};
use crate::policy::Mode;

pub const SUMMARY_SCHEMA: &str = "eks-endpoint-guard/sweep-summary/v1";
/// SNS refuses a message (body and attributes) larger than this, and a
/// `PublishBatch` whose messages add up to more.
pub const MAX_PUBLISH_BYTES: usize = 262_144;
/// An exemption that ends within this many seconds is listed.
pub const EXPIRY_WINDOW_SECONDS: i64 = 3 * 86_400;
/// Bytes of cluster and exemption lines in the email text.
const EMAIL_BUDGET: usize = 48_000;
/// Bytes of cluster and exemption entries in the JSON view.
const MACHINE_BUDGET: usize = 24_000;
/// Characters of a card's `content.description`. The Chatbot guide's
/// custom-notification schema, as found, names the fields but not their
/// lengths; Slack cuts a section's text at 3,000 characters, so the card
/// keeps below that.
pub const CHAT_DESCRIPTION_CHARS: usize = 2_900;
/// Characters of a card's title (a single line in Slack and Teams).
pub const CHAT_TITLE_CHARS: usize = 250;

/// Where the clusters a view leaves out are listed.
pub const THE_REST: &str = "every cluster has its own finding on this topic for machines (subscribe with the filter policy {\"audience\": [\"machines\"]}), in Security Hub when SECURITY_HUB=true, and a \"decision\" line in the function's log (the README's Logs Insights query \"every cluster whose endpoint was opened\")";

/// What the sweep did about an open endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Done {
    /// Open, and the revert was refused or not reached: still open.
    Pending,
    Reverted,
    WouldRevert,
    Exempt,
}

/// One open cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterLine {
    pub cluster: String,
    pub account: String,
    pub region: String,
    pub done: Done,
    /// What was done, for people: `reverted (EKS update ...)`, `would
    /// revert`, `exempt until ...`, `pending: ...`.
    pub what: String,
    /// Since when the endpoint has been open (RFC 3339), where the cluster's
    /// updates or creation say so.
    pub open_since: Option<String>,
    /// Opened within the last sweep period: new since the previous sweep.
    pub new: bool,
}

/// An exemption of an open cluster that ends soon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiringExemption {
    pub cluster: String,
    pub account: String,
    pub region: String,
    /// RFC 3339, UTC.
    pub end: String,
    /// Who put the tag on, when the guard knows (EKS does not say: the
    /// `TagResource` record in CloudTrail does).
    pub set_by: Option<String>,
    /// It came within the window since the previous sweep.
    pub new: bool,
}

/// The sweep's counts (from its tally).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub seen: usize,
    pub reverted: usize,
    pub reported: usize,
    pub exempt: usize,
    /// Busy or not reached, open or not.
    pub pending: usize,
    pub failed: usize,
}

/// The summary (and its JSON view).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    pub schema: String,
    #[serde(flatten)]
    pub head: ReportHead,
    /// Open clusters (listed or not), and how many of them are new.
    pub open: usize,
    pub new: usize,
    /// New ones first.
    pub clusters: Vec<ClusterLine>,
    pub expiring: Vec<ExpiringExemption>,
    /// Clusters and exemptions this view leaves out.
    pub omitted_clusters: usize,
    pub omitted_exemptions: usize,
    /// Where the clusters left out are.
    pub rest: String,
}

/// Where and when the sweep ran, and what it counted (in the JSON view, at
/// the top level of the [`SweepReport`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportHead {
    /// The account and region the sweep ran in.
    pub account: String,
    pub region: String,
    /// `3/40` for a slice of a sliced sweep.
    pub slice: Option<String>,
    pub sweep_time: Option<String>,
    pub mode: Mode,
    /// Minutes between sweeps: "new" means opened within the last one.
    pub period_minutes: u64,
    pub counts: Counts,
}

impl SweepReport {
    pub fn new(
        head: ReportHead,
        mut clusters: Vec<ClusterLine>,
        mut expiring: Vec<ExpiringExemption>,
    ) -> SweepReport {
        clusters.sort_by(|a, b| {
            (!a.new, a.done, &a.account, &a.region, &a.cluster)
                .cmp(&(!b.new, b.done, &b.account, &b.region, &b.cluster))
        });
        expiring.sort_by(|a, b| (&a.end, &a.cluster).cmp(&(&b.end, &b.cluster)));
        SweepReport {
            schema: SUMMARY_SCHEMA.to_string(),
            head,
            open: clusters.len(),
            new: clusters.iter().filter(|c| c.new).count(),
            clusters,
            expiring,
            omitted_clusters: 0,
            omitted_exemptions: 0,
            rest: THE_REST.to_string(),
        }
    }

    /// Whether people need to hear of this sweep: an endpoint reverted,
    /// that would be, or still open (pending), or an exemption that came
    /// within three days of its end since the previous sweep. Exempt clusters
    /// alone are no news: their exemption was alerted when it was granted.
    pub fn is_news(&self) -> bool {
        self.clusters.iter().any(|c| c.done != Done::Exempt) || self.expiring.iter().any(|e| e.new)
    }

    /// The SNS subject: at most 100 ASCII characters.
    pub fn subject(&self) -> String {
        let text = format!(
            "[EKS guard] Sweep: {} public endpoint(s), {} new; {} reverted, {} report-only, {} pending",
            self.open,
            self.new,
            self.count(Done::Reverted),
            self.count(Done::WouldRevert),
            self.count(Done::Pending),
        );
        let ascii: String = text.chars().filter(char::is_ascii).collect();
        ascii.chars().take(MAX_SUBJECT_LEN).collect()
    }

    fn count(&self, done: Done) -> usize {
        self.clusters.iter().filter(|c| c.done == done).count()
    }

    /// The JSON view: the lists cut to what fits, with what was left out.
    pub fn machine_view(&self) -> SweepReport {
        let clusters = fit(&self.clusters, MACHINE_BUDGET / 4 * 3, json_size);
        let expiring = fit(&self.expiring, MACHINE_BUDGET / 4, json_size);
        SweepReport {
            clusters: self.clusters[..clusters].to_vec(),
            expiring: self.expiring[..expiring].to_vec(),
            omitted_clusters: self.clusters.len() - clusters,
            omitted_exemptions: self.expiring.len() - expiring,
            ..self.clone()
        }
    }

    /// The whole `Message` for `MessageStructure=json`, within SNS's limit.
    pub fn message(&self) -> Result<String, String> {
        let machine = serde_json::to_string(&self.machine_view()).map_err(|e| e.to_string())?;
        let views = views(&machine, &self.email_text(), &self.chatbot_notification())
            .map_err(|e| e.to_string())?;
        // The subject and attributes are well under 4 KB.
        if views.len() + 4_096 > MAX_PUBLISH_BYTES {
            return Err(format!(
                "the sweep summary is {} bytes, over SNS's limit",
                views.len()
            ));
        }
        Ok(views)
    }

    /// Message attributes for subscription filter policies.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("action", "sweep-summary".to_string()),
            ("account", self.head.account.clone()),
            ("region", self.head.region.clone()),
            ("mode", self.mode_name().to_string()),
        ]
    }

    fn mode_name(&self) -> &'static str {
        match self.head.mode {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        }
    }
}

/// How many of `items`, from the first, fit in `budget` bytes.
fn fit<T>(items: &[T], budget: usize, size: impl Fn(&T) -> usize) -> usize {
    let mut used = 0;
    items
        .iter()
        .take_while(|item| {
            used += size(item);
            used <= budget
        })
        .count()
}

fn json_size<T: Serialize>(item: &T) -> usize {
    serde_json::to_string(item).map_or(0, |text| text.len() + 1)
}

/// One cluster as a line of text.
fn line_text(line: &ClusterLine) -> String {
    format!(
        "{}{} ({} / {}): {}; open since {}",
        if line.new { "NEW " } else { "" },
        line.cluster,
        line.account,
        line.region,
        line.what,
        line.open_since.as_deref().unwrap_or("unknown")
    )
}

fn exemption_text(exemption: &ExpiringExemption) -> String {
    format!(
        "{} ({} / {}): exempt until {}, tag set by {}",
        exemption.cluster,
        exemption.account,
        exemption.region,
        exemption.end,
        exemption
            .set_by
            .as_deref()
            .unwrap_or("unknown (see the TagResource call in CloudTrail)")
    )
}

/// `lines` that fit in `budget` bytes (counting a line break each), then a
/// line saying how many more there are and where, if any.
fn listed(lines: Vec<String>, budget: usize, prefix: &str, more: &str) -> Vec<String> {
    let shown = fit(&lines, budget, |line| prefix.len() + line.len() + 1);
    let left = lines.len() - shown;
    let mut out: Vec<String> = lines
        .into_iter()
        .take(shown)
        .map(|line| format!("{prefix}{line}"))
        .collect();
    if left > 0 {
        out.push(format!("{prefix}... and {left} more {more}"));
    }
    out
}

impl SweepReport {
    /// The `email` view: plain text.
    pub fn email_text(&self) -> String {
        let mut lines = vec![
            format!(
                "The scheduled sweep found {} cluster(s) with a public API endpoint that breaks the policy; {} new since the previous sweep (opened within the last {} minutes).",
                self.open, self.new, self.head.period_minutes
            ),
            String::new(),
            format!(
                "Sweep:        account {}, region {}{}",
                self.head.account,
                self.head.region,
                self.head
                    .slice
                    .as_deref()
                    .map(|s| format!(", slice {s}"))
                    .unwrap_or_default()
            ),
            format!(
                "At:           {}",
                self.head.sweep_time.as_deref().unwrap_or("unknown")
            ),
            format!("Mode:         {}", self.mode_name()),
            format!(
                "Counted:      {} seen, {} reverted, {} report-only, {} exempt, {} pending (busy or not reached), {} failed",
                self.head.counts.seen,
                self.head.counts.reverted,
                self.head.counts.reported,
                self.head.counts.exempt,
                self.head.counts.pending,
                self.head.counts.failed
            ),
            String::new(),
            "Open endpoints (new first):".to_string(),
        ];
        let clusters = self.clusters.iter().map(line_text).collect();
        let more = format!("not listed here: {THE_REST}.");
        lines.extend(listed(clusters, EMAIL_BUDGET / 4 * 3, "  - ", &more));
        if !self.expiring.is_empty() {
            lines.push(String::new());
            lines.push("Exemptions that end within 3 days (the guard reverts these clusters then, unless the tag changes):".to_string());
            let ending = self.expiring.iter().map(exemption_text).collect();
            lines.extend(listed(
                ending,
                EMAIL_BUDGET / 4,
                "  - ",
                "ending soon, not listed here.",
            ));
        }
        lines.push(String::new());
        lines.push("Sent by eks-endpoint-guard once per sweep. Each cluster's full finding (who, what, the fix, the code to change) goes to machine subscribers of this topic.".to_string());
        lines.join("\n")
    }

    /// The `https` view: an AWS Chatbot custom notification.
    pub fn chatbot_notification(&self) -> serde_json::Value {
        let title = format!(
            ":rotating_light: EKS guard sweep: {} public endpoint(s), {} new",
            self.open, self.new
        );
        json!({
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": title.chars().take(CHAT_TITLE_CHARS).collect::<String>(),
                "description": self.chat_description(),
                "nextSteps": [
                    "Close the endpoints still open, or change the code that opens them (each cluster's finding names the setting).",
                    "Renew or drop the exemptions that end soon.",
                ],
            },
            "metadata": {
                "threadId": format!("eks-endpoint-guard/sweep/{}/{}", self.head.account, self.head.region),
                "summary": format!("EKS guard sweep: {} public endpoint(s)", self.open),
                "eventType": "sweep-summary",
                "additionalContext": {
                    "account": self.head.account,
                    "region": self.head.region,
                    "mode": self.mode_name(),
                },
            }
        })
    }

    /// The card's text, within [`CHAT_DESCRIPTION_CHARS`].
    fn chat_description(&self) -> String {
        let mut head = format!(
            "*{} new* since the previous sweep; {} reverted, {} report-only, {} exempt, {} pending of {} seen.",
            self.new,
            self.head.counts.reverted,
            self.head.counts.reported,
            self.head.counts.exempt,
            self.head.counts.pending,
            self.head.counts.seen
        );
        if !self.expiring.is_empty() {
            let first = &self.expiring[0];
            head.push_str(&format!(
                "\n*{} exemption(s) end within 3 days*, first {} at {}.",
                self.expiring.len(),
                first.cluster,
                first.end
            ));
        }
        let tail = format!("\n... and {{}} more: {THE_REST}.");
        let budget = CHAT_DESCRIPTION_CHARS.saturating_sub(head.len() + tail.len() + 8);
        let lines: Vec<String> = self
            .clusters
            .iter()
            .map(|c| format!("\n• {}", line_text(c)))
            .collect();
        let shown = fit(&lines, budget, |line| line.chars().count());
        let mut text = head;
        lines[..shown].iter().for_each(|line| text.push_str(line));
        if shown < lines.len() {
            text.push_str(&tail.replace("{}", &(lines.len() - shown).to_string()));
        }
        text
    }
}

#[cfg(test)]
mod tests;
