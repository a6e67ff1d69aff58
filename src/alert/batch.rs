//! The sweep's findings for machines: one message per cluster carrying the
//! finding as its only view (`default`, which every protocol falls back
//! to), sent with `PublishBatch`: at most 10 messages and 256 KB a call (SNS
//! quotas). No email text and no Chatbot card: people's subscriptions filter
//! on `audience`, and AWS Chatbot, whose subscription the template cannot
//! give a filter policy, drops a message that is not a custom notification.
//! Pure but for [`publish_batch`].

use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::PublishBatchRequestEntry;
use serde_json::json;

use super::Finding;
use super::summary::MAX_PUBLISH_BYTES;
use super::views::{Audience, attributes, sns_attributes, subject};

/// Messages one `PublishBatch` takes.
pub const BATCH_ENTRIES: usize = 10;

/// One finding, rendered for machines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineMessage {
    pub cluster: String,
    pub subject: String,
    /// `{"default": "<finding JSON>"}` for `MessageStructure=json`.
    pub body: String,
    pub attributes: Vec<(&'static str, String)>,
}

impl MachineMessage {
    pub fn of(finding: &Finding) -> Result<MachineMessage, String> {
        let machine = serde_json::to_string(finding).map_err(|e| e.to_string())?;
        let body =
            serde_json::to_string(&json!({ "default": machine })).map_err(|e| e.to_string())?;
        Ok(MachineMessage {
            cluster: format!(
                "{}/{}/{}",
                finding.cluster.account, finding.cluster.region, finding.cluster.name
            ),
            subject: subject(finding),
            body,
            attributes: attributes(finding),
        })
    }

    /// What SNS counts against its size limit: the body and the
    /// attributes' names, types and values (the subject too, to be safe).
    pub fn bytes(&self) -> usize {
        let attributes: usize = self
            .attributes
            .iter()
            .map(|(name, value)| name.len() + "String".len() + value.len())
            .sum();
        let audience = "audience".len() + "String.Array".len() + Audience::Machines.value().len();
        self.body.len() + self.subject.len() + attributes + audience
    }
}

/// `messages` packed, in order, into batches of at most [`BATCH_ENTRIES`]
/// whose bytes add up to at most 256 KB. A message too large on its own
/// comes back in `Err`, named.
pub fn batches(messages: Vec<MachineMessage>) -> (Vec<Vec<MachineMessage>>, Vec<String>) {
    let mut batches: Vec<Vec<MachineMessage>> = Vec::new();
    let mut too_large = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = message.bytes();
        if size > MAX_PUBLISH_BYTES {
            too_large.push(format!(
                "{}: finding of {size} bytes, over SNS's limit",
                message.cluster
            ));
            continue;
        }
        match batches.last_mut() {
            Some(batch) if batch.len() < BATCH_ENTRIES && bytes + size <= MAX_PUBLISH_BYTES => {
                bytes += size;
                batch.push(message);
            }
            _ => {
                bytes = size;
                batches.push(vec![message]);
            }
        }
    }
    (batches, too_large)
}

/// The bytes of a batch, as [`MachineMessage::bytes`] counts them.
pub fn batch_bytes(batch: &[MachineMessage]) -> usize {
    batch.iter().map(MachineMessage::bytes).sum()
}

/// One `PublishBatch`; `Err` names each message SNS did not take (all of
/// them when the call failed).
pub async fn publish_batch(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    batch: &[MachineMessage],
) -> Result<(), Vec<String>> {
    let all_failed = |why: &str| {
        batch
            .iter()
            .map(|m| format!("{}: {why}", m.cluster))
            .collect::<Vec<_>>()
    };
    let mut request = sns.publish_batch().topic_arn(topic_arn);
    for (i, message) in batch.iter().enumerate() {
        let mut entry = PublishBatchRequestEntry::builder()
            .id(i.to_string())
            .subject(&message.subject)
            .message_structure("json")
            .message(&message.body);
        let typed = sns_attributes(message.attributes.clone(), Audience::Machines)
            .map_err(|e| all_failed(&e))?;
        for (name, attribute) in typed {
            entry = entry.message_attributes(name, attribute);
        }
        request = request
            .publish_batch_request_entries(entry.build().map_err(|e| all_failed(&e.to_string()))?);
    }
    let output = request
        .send()
        .await
        .map_err(|e| all_failed(&DisplayErrorContext(&e).to_string()))?;
    let failed: Vec<String> = output
        .failed()
        .iter()
        .map(|f| {
            let cluster = f
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| batch.get(i))
                .map_or("?", |m| m.cluster.as_str());
            format!(
                "{cluster}: {} {}",
                f.code(),
                f.message().unwrap_or_default()
            )
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(i: usize, body_bytes: usize) -> MachineMessage {
        MachineMessage {
            cluster: format!("a/r/c{i}"),
            subject: "s".into(),
            body: "x".repeat(body_bytes),
            attributes: vec![("cluster", format!("c{i}"))],
        }
    }

    fn sizes(batches: &[Vec<MachineMessage>]) -> Vec<usize> {
        batches.iter().map(Vec::len).collect()
    }

    #[test]
    fn batches_take_ten_messages_and_256_kb_at_most_in_order() {
        let (small, refused) = batches((0..25).map(|i| message(i, 3_000)).collect());
        assert_eq!(sizes(&small), [10, 10, 5]);
        assert!(refused.is_empty());
        let order: Vec<String> = small.iter().flatten().map(|m| m.cluster.clone()).collect();
        assert_eq!(
            order,
            (0..25).map(|i| format!("a/r/c{i}")).collect::<Vec<_>>()
        );
        // 60 KB each: four fit in 256 KB, a fifth does not.
        let (large, _) = batches((0..9).map(|i| message(i, 60_000)).collect());
        assert_eq!(sizes(&large), [4, 4, 1]);
        assert!(large.iter().all(|b| batch_bytes(b) <= MAX_PUBLISH_BYTES));
        let (_, refused) = batches(vec![message(0, MAX_PUBLISH_BYTES)]);
        assert_eq!(refused.len(), 1);
        assert!(refused[0].starts_with("a/r/c0: finding of"), "{refused:?}");
    }

    #[test]
    fn a_machine_message_is_the_finding_as_its_only_view() {
        let finding = crate::alert::finding(
            &crate::fixtures::change("prod-eu"),
            crate::alert::Judged {
                cluster_arn: "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu",
                status: "ACTIVE",
                found: None,
                verdict: &crate::policy::Verdict::Compliant,
                action: &crate::policy::Action::Nothing,
                exemption: None,
                stack: None,
            },
            crate::policy::Mode::Report,
            &crate::alert::Acted::default(),
        );
        let message = MachineMessage::of(&finding).unwrap();
        let views: serde_json::Value = serde_json::from_str(&message.body).unwrap();
        assert_eq!(views.as_object().unwrap().len(), 1, "{views}");
        let back: Finding = serde_json::from_str(views["default"].as_str().unwrap()).unwrap();
        assert_eq!(back, finding);
        assert_eq!(message.subject, subject(&finding));
        assert!(message.bytes() > message.body.len());
    }

    /// The figures of issue 16's closing note: per sweep of 1, 25 and 1,000
    /// reverted clusters (names of EKS's longest, 100 characters), the
    /// messages to people and to machines, the calls, and the largest
    /// publish in bytes.
    #[test]
    fn messages_per_sweep_for_1_25_and_1000_findings() {
        use crate::alert::summary::{ClusterLine, Counts, Done, ReportHead, SweepReport};
        use crate::policy::{Mode, Policy, decide};
        let found = crate::fixtures::open(&["0.0.0.0/0"]);
        let (action, verdict) = decide(&Policy::default(), Mode::Enforce, false, None, &found);
        for n in [1usize, 25, 1000] {
            let findings: Vec<Finding> = (0..n)
                .map(|i| {
                    let name = format!("{i:04}-{}", "n".repeat(95));
                    let arn = format!("arn:aws:eks:eu-west-1:111122223333:cluster/{name}");
                    let acted = crate::alert::Acted {
                        update_id: Some("73ac763c-2f0e-4a8b-9d1c-5e6f7a8b9c0d".into()),
                        ..Default::default()
                    };
                    let judged = crate::alert::Judged {
                        cluster_arn: &arn,
                        status: "ACTIVE",
                        found: Some(&found),
                        verdict: &verdict,
                        action: &action,
                        exemption: None,
                        stack: None,
                    };
                    crate::alert::finding(
                        &crate::fixtures::change(&name),
                        judged,
                        Mode::Enforce,
                        &acted,
                    )
                })
                .collect();
            let lines = findings
                .iter()
                .map(|f| ClusterLine {
                    cluster: f.cluster.name.clone(),
                    account: f.cluster.account.clone(),
                    region: f.cluster.region.clone(),
                    done: Done::Reverted,
                    what: "reverted (EKS update 73ac763c-2f0e-4a8b-9d1c-5e6f7a8b9c0d)".into(),
                    open_since: Some("2026-12-04T09:41:07Z".into()),
                    new: true,
                })
                .collect();
            let head = ReportHead {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                slice: None,
                sweep_time: None,
                mode: Mode::Enforce,
                period_minutes: 60,
                counts: Counts::default(),
            };
            let summary = SweepReport::new(head, lines, Vec::new()).message().unwrap();
            let messages = findings
                .iter()
                .map(|f| MachineMessage::of(f).unwrap())
                .collect();
            let (batches, refused) = batches(messages);
            assert!(refused.is_empty());
            let machine_messages: usize = batches.iter().map(Vec::len).sum();
            assert_eq!(machine_messages, n);
            assert_eq!(
                batches.len(),
                n.div_ceil(BATCH_ENTRIES),
                "ten findings fit a call"
            );
            let largest = batches
                .iter()
                .map(|b| batch_bytes(b))
                .max()
                .unwrap()
                .max(summary.len());
            assert!(largest < MAX_PUBLISH_BYTES);
            println!(
                "figures: {n} finding(s): 1 message to people ({} bytes), {machine_messages} to machines in {} PublishBatch call(s); largest publish {largest} bytes",
                summary.len(),
                batches.len()
            );
        }
    }
}
