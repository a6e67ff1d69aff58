//! Reading the guard's wiring: read-only calls, all in the function's own
//! region (SNS in the topic's), each check bounded by the time the sweep
//! gives it. A call that fails is kept as the reason the part could not be
//! read, which [`super::judge`] reports; nothing here decides.

use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata};
use futures_util::future::join_all;

use super::{
    Alarms, BasicSelector, Check, Concurrency, FieldSelector, Read, Rule, Selectors, Topic, Trail,
    Wiring, covers,
};
use crate::config::WiringSettings;

/// The clients and names the check needs; created once per environment.
pub struct WiringReader {
    settings: WiringSettings,
    events: aws_sdk_eventbridge::Client,
    lambda: aws_sdk_lambda::Client,
    sns: aws_sdk_sns::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    cloudtrail: aws_sdk_cloudtrail::Client,
}

/// Where the guard runs, and how long the check may take.
pub struct Scope<'a> {
    pub function_arn: &'a str,
    pub topic_arn: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub budget: Duration,
}

impl WiringReader {
    /// `sns` and `lambda` are the guard's own clients (SNS in the alert
    /// topic's region, Lambda the one it hands work on with).
    pub fn new(
        sdk: &SdkConfig,
        sns: aws_sdk_sns::Client,
        lambda: aws_sdk_lambda::Client,
        settings: WiringSettings,
    ) -> Self {
        WiringReader {
            settings,
            events: aws_sdk_eventbridge::Client::new(sdk),
            lambda,
            sns,
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            cloudtrail: aws_sdk_cloudtrail::Client::new(sdk),
        }
    }

    /// Every part of the wiring whose name is known, read side by side,
    /// each within `scope.budget`.
    pub async fn read(&self, scope: &Scope<'_>) -> Wiring {
        let s = &self.settings;
        let mut skipped = Vec::new();
        let mut named = |check: Check, name: Option<String>, why: &str| {
            if name.is_none() {
                skipped.push((check, why.to_string()));
            }
            name
        };
        let event_rule = named(
            Check::EventRule,
            s.event_rule.clone(),
            "GUARD_EVENT_RULE_NAME unset",
        );
        let schedule_rule = named(
            Check::ScheduleRule,
            s.schedule_rule.clone(),
            "GUARD_SCHEDULE_RULE_NAME unset",
        );
        let function = named(
            Check::Concurrency,
            s.function_name.clone(),
            "AWS_LAMBDA_FUNCTION_NAME unset",
        );
        let alarm_prefix = named(
            Check::Alarms,
            s.alarm_prefix.clone(),
            "GUARD_ALARM_PREFIX unset",
        );
        let topic = named(
            Check::Topic,
            own_topic(scope.topic_arn, scope.account),
            "the alert topic belongs to another account, whose owner checks its subscriptions",
        );
        let budget = scope.budget;
        let (event_rule, schedule_rule, concurrency, topic, alarms, trails) = tokio::join!(
            maybe(event_rule, |name| within(budget, self.rule(name))),
            maybe(schedule_rule, |name| within(budget, self.rule(name))),
            maybe(function, |name| within(budget, self.concurrency(name))),
            maybe(topic, |arn| within(budget, self.topic(arn))),
            maybe(alarm_prefix, |prefix| within(budget, self.alarms(prefix))),
            within(budget, self.trails(scope.region)),
        );
        Wiring {
            function_arn: scope.function_arn.to_string(),
            event_rule,
            schedule_rule,
            concurrency,
            topic,
            alarms,
            trails: Some(trails),
            skipped,
        }
    }

    /// `DescribeRule` and `ListTargetsByRule` (all pages). A rule that does
    /// not exist is a fact (`ResourceNotFoundException`), not a failure.
    async fn rule(&self, name: String) -> Read<Rule> {
        let described = self.events.describe_rule().name(&name).send().await;
        let state = match described {
            Ok(rule) => rule.state().map(|s| s.as_str().to_string()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(Rule {
                    name,
                    ..Rule::default()
                });
            }
            Err(e) => return Err(format!("DescribeRule {name}: {}", reason(&e))),
        };
        let mut target_arns = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .events
                .list_targets_by_rule()
                .rule(&name)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| format!("ListTargetsByRule {name}: {}", reason(&e)))?;
            target_arns.extend(page.targets().iter().map(|t| t.arn().to_string()));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(Rule {
                    name,
                    state,
                    target_arns,
                });
            }
        }
    }

    /// `GetFunctionConcurrency`: no reservation answers no value.
    async fn concurrency(&self, function: String) -> Read<Concurrency> {
        let answer = self
            .lambda
            .get_function_concurrency()
            .function_name(&function)
            .send()
            .await
            .map_err(|e| format!("GetFunctionConcurrency {function}: {}", reason(&e)))?;
        Ok(Concurrency {
            reserved: answer.reserved_concurrent_executions(),
            function,
        })
    }

    /// `ListSubscriptionsByTopic`, all pages (100 a page).
    async fn topic(&self, arn: String) -> Read<Topic> {
        let mut subscription_arns = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(&arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| format!("ListSubscriptionsByTopic {arn}: {}", reason(&e)))?;
            subscription_arns.extend(
                page.subscriptions()
                    .iter()
                    .map(|s| s.subscription_arn().unwrap_or_default().to_string()),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(Topic {
                    arn,
                    subscription_arns,
                });
            }
        }
    }

    /// `DescribeAlarms` by name prefix, all pages. Metric alarms only: the
    /// guard has no composite alarm, and reading those needs the
    /// permission on `*` (CloudWatch API reference, `DescribeAlarms`).
    async fn alarms(&self, prefix: String) -> Read<Alarms> {
        let mut alarms = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .cloudwatch
                .describe_alarms()
                .alarm_name_prefix(&prefix)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| format!("DescribeAlarms {prefix}*: {}", reason(&e)))?;
            alarms.extend(page.metric_alarms().iter().map(|a| {
                let name = a.alarm_name().unwrap_or_default().to_string();
                (name, a.actions_enabled().unwrap_or(true))
            }));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(Alarms { prefix, alarms });
            }
        }
    }

    /// `DescribeTrails` with shadow trails (a multi-region or organization
    /// trail made elsewhere shows here as one), then the status and
    /// selectors of each trail that covers `region`, side by side. A
    /// shadow trail is asked for by ARN, as `GetTrailStatus` requires.
    async fn trails(&self, region: &str) -> Read<Vec<Trail>> {
        let listed = self
            .cloudtrail
            .describe_trails()
            .include_shadow_trails(true)
            .send()
            .await
            .map_err(|e| format!("DescribeTrails: {}", reason(&e)))?;
        let trails = listed.trail_list().iter().map(|t| Trail {
            arn: t.trail_arn().or(t.name()).unwrap_or_default().to_string(),
            home_region: t.home_region().unwrap_or_default().to_string(),
            multi_region: t.is_multi_region_trail().unwrap_or(false),
            custom_selectors: t.has_custom_event_selectors().unwrap_or(false),
            logging: None,
            selectors: None,
        });
        let read = trails.map(|mut trail| async move {
            if covers(&trail, region) {
                let (logging, selectors) =
                    tokio::join!(self.logging(&trail.arn), self.selectors(&trail.arn));
                trail.logging = Some(logging);
                trail.selectors = Some(selectors);
            }
            trail
        });
        Ok(join_all(read).await)
    }

    async fn logging(&self, arn: &str) -> Read<bool> {
        let status = self.cloudtrail.get_trail_status().name(arn).send().await;
        status
            .map(|s| s.is_logging().unwrap_or(false))
            .map_err(|e| format!("GetTrailStatus: {}", reason(&e)))
    }

    async fn selectors(&self, arn: &str) -> Read<Selectors> {
        let answer = self
            .cloudtrail
            .get_event_selectors()
            .trail_name(arn)
            .send()
            .await
            .map_err(|e| format!("GetEventSelectors: {}", reason(&e)))?;
        let basic = answer.event_selectors().iter().map(|s| BasicSelector {
            read_write_type: s.read_write_type().map(|t| t.as_str().to_string()),
            include_management_events: s.include_management_events(),
            exclude_management_event_sources: s.exclude_management_event_sources().to_vec(),
        });
        let advanced = answer.advanced_event_selectors().iter().map(|s| {
            s.field_selectors()
                .iter()
                .map(|f| FieldSelector {
                    field: f.field().to_string(),
                    equals: f.equals().to_vec(),
                    starts_with: f.starts_with().to_vec(),
                    ends_with: f.ends_with().to_vec(),
                    not_equals: f.not_equals().to_vec(),
                    not_starts_with: f.not_starts_with().to_vec(),
                    not_ends_with: f.not_ends_with().to_vec(),
                })
                .collect()
        });
        Ok(Selectors {
            basic: basic.collect(),
            advanced: advanced.collect(),
        })
    }
}

/// The alert topic when the function's own account owns it. A central
/// topic of another account (`CentralAlertTopicArn`) lets other accounts
/// publish, not list its subscriptions: its own stack checks it.
fn own_topic(topic_arn: &str, account: &str) -> Option<String> {
    (topic_arn.split(':').nth(4) == Some(account)).then(|| topic_arn.to_string())
}

/// Runs `read` with the name when there is one.
async fn maybe<T, F, Fut>(name: Option<String>, read: F) -> Option<Read<T>>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Read<T>>,
{
    match name {
        Some(name) => Some(read(name).await),
        None => None,
    }
}

/// `read`, or why it did not finish within `budget` (the sweep's deadline
/// leaves the rest to the sweep itself).
async fn within<T>(budget: Duration, read: impl Future<Output = Read<T>>) -> Read<T> {
    tokio::time::timeout(budget, read)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "not read within {:.1} s (the time the sweep's deadline leaves this check)",
                budget.as_secs_f64()
            ))
        })
}

/// An SDK error's code and message (`AccessDeniedException: ...`), or its
/// whole chain when the service sent neither (a time-out, no connection).
fn reason<E>(error: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(error).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_topic_of_the_functions_own_account_is_checked() {
        let topic = "arn:aws:sns:eu-west-1:111122223333:alerts";
        assert_eq!(own_topic(topic, "111122223333").as_deref(), Some(topic));
        assert_eq!(own_topic(topic, "444455556666"), None);
        assert_eq!(own_topic("not-an-arn", "111122223333"), None);
    }

    #[tokio::test]
    async fn a_read_that_outlasts_its_budget_is_a_reason_not_a_pass() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<(), String>(())
        };
        let read = within(Duration::from_millis(10), slow).await;
        assert!(read.unwrap_err().contains("not read within 0.0 s"));
        assert_eq!(
            within(Duration::from_secs(1), async { Ok::<_, String>(7) }).await,
            Ok(7)
        );
    }
}
