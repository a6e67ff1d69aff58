//! eks-endpoint-guard: an automatic guardrail that closes public Amazon EKS
//! API endpoints seconds after CloudTrail reports them opened, and tells
//! people through SNS.
//!
//! - [`event`]: lenient parsing of EventBridge/CloudTrail records (pure).
//! - [`policy`]: the policy and the decision (pure).
//! - [`eks`]: the EKS calls and how their answers are sorted.
//! - [`guard`]: the use case: dispatch, judge one cluster, the exemption
//!   flow, the sweep and its telling.
//! - [`outcome`]: the one typed outcome that answers, alerts and metrics share.
//! - [`clock`]: epoch milliseconds and CloudTrail times.
//! - [`alert`]: the finding and its email, Slack and machine views; the
//!   sweep's one summary for people and its findings for machines.
//! - [`tool`]: which tool made a change, and what happens next because of it (pure).
//! - [`history`]: repeat openings, from the cluster's own EKS updates (pure).
//! - [`securityhub`]: the finding as ASFF (pure), apart from its import into
//!   AWS Security Hub.
//! - [`organization`]: the organization's active accounts, for the sweep.
//! - [`sweep_alert`]: the sweep's own alert when it cannot reach or judge
//!   everything.
//! - [`wiring`]: the guard's own wiring (rules, concurrency, topic, alarms,
//!   trails): read by each sweep, judged (pure), told as "guard IMPAIRED".
//! - [`metrics`]: CloudWatch metrics as Embedded Metric Format log lines.
//! - [`config`]: settings from the environment.
//! - [`error`]: errors and how Lambda sees them.
//! - [`startup`]: SDK clients and reporting start-up failures.

pub mod alert;
pub mod clock;
pub mod config;
pub mod eks;
pub mod error;
pub mod event;
#[cfg(test)]
mod fixtures;
pub mod guard;
pub mod history;
pub mod metrics;
pub mod organization;
pub mod outcome;
pub mod policy;
pub mod securityhub;
pub mod startup;
pub mod sweep_alert;
pub mod tool;
pub mod wiring;
