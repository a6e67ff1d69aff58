//! The sweep's check of the guard's own wiring (issue 17), through the
//! binary against `moto_server`: a stack wired as the template wires it
//! (its two rules targeting the function, a function without a zero
//! reservation, a topic with a confirmed subscriber, alarms with actions,
//! a logging multi-region trail) gives no "guard IMPAIRED" alert; each way
//! to break it gives exactly one, naming what is broken, to the topic's
//! subscriber. A topic left without subscribers is heard through moto's
//! record of what was published to it (its state dump, which cannot
//! serialise a Lambda function or an S3 bucket: so the stage's moto serves
//! SNS, SQS and STS as in every test, and a second moto holds the rest of
//! the stack).

mod common;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
use aws_sdk_eventbridge::types::{RuleState, Target};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use common::{GuardProcess, GuardProcessInner, Stage, field, sweep, sweep_event};
use guard_testkit::eks::EksOptions;
use guard_testkit::moto::Moto;
use serde_json::Value;

/// What the testkit names the function (`AWS_LAMBDA_FUNCTION_NAME`).
const FUNCTION: &str = "eks-endpoint-guard";
const EVENT_RULE: &str = "eks-endpoint-guard-events-1a2b3c4d";
const SCHEDULE_RULE: &str = "eks-endpoint-guard-sweep-1a2b3c4d";
const ALARM_PREFIX: &str = "wired-guard-";
const TRAIL: &str = "management";
const TARGET_ID: &str = "GuardFunction";
/// An empty zip archive (its end-of-central-directory record alone): moto
/// stores the code of `CreateFunction`, it never runs it here.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// The guard's stack as moto holds it, and the stage around it.
struct Wired {
    /// SNS (the alert topic and its inbox), SQS, STS; the EKS double.
    stage: Stage,
    /// The rest of the stack: rules, function, alarms, trail (and the
    /// role and bucket these need).
    stack: Moto,
    sdk: aws_config::SdkConfig,
    function_arn: String,
}

/// Everything the template wires, whole, in moto's region (us-east-1).
async fn wired() -> Wired {
    let stage = Stage::start("wired-alerts", EksOptions::default()).await;
    let stack = Moto::start().await.expect("moto_server");
    let sdk = stack.sdk_config();
    let role = stack.lambda_role("guard-role").await;
    let function_arn = aws_sdk_lambda::Client::new(&sdk)
        .create_function()
        .function_name(FUNCTION)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(EMPTY_ZIP))
                .build(),
        )
        .send()
        .await
        .expect("moto CreateFunction")
        .function_arn
        .expect("a function ARN");
    let wired = Wired {
        stage,
        stack,
        sdk,
        function_arn,
    };
    wired.rules().await;
    wired.alarms().await;
    wired.trail().await;
    wired
}

impl Wired {
    fn events(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.sdk)
    }

    fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
    }

    fn cloudtrail(&self) -> aws_sdk_cloudtrail::Client {
        aws_sdk_cloudtrail::Client::new(&self.sdk)
    }

    /// The EKS rule and the schedule, each enabled and targeting the function.
    async fn rules(&self) {
        let events = self.events();
        let rules = [
            (EVENT_RULE, Some(r#"{"source":["aws.eks"]}"#), None),
            (SCHEDULE_RULE, None, Some("rate(1 hour)")),
        ];
        for (name, pattern, schedule) in rules {
            events
                .put_rule()
                .name(name)
                .set_event_pattern(pattern.map(str::to_string))
                .set_schedule_expression(schedule.map(str::to_string))
                .state(RuleState::Enabled)
                .send()
                .await
                .expect("moto PutRule");
            let target = Target::builder()
                .id(TARGET_ID)
                .arn(&self.function_arn)
                .build()
                .expect("id and arn");
            let put = events.put_targets().rule(name).targets(target).send().await;
            put.expect("moto PutTargets");
        }
    }

    /// Two alarms of the guard, their actions to the alert topic.
    async fn alarms(&self) {
        for alarm in ["errors", "heartbeat"] {
            self.cloudwatch()
                .put_metric_alarm()
                .alarm_name(format!("{ALARM_PREFIX}{alarm}"))
                .namespace("AWS/Lambda")
                .metric_name("Errors")
                .statistic(Statistic::Sum)
                .period(300)
                .evaluation_periods(1)
                .threshold(1.0)
                .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
                .alarm_actions(&self.stage.topic)
                .send()
                .await
                .expect("moto PutMetricAlarm");
        }
    }

    /// A multi-region trail, logging, with the default selectors.
    async fn trail(&self) {
        self.stack.bucket("trail-bucket").await;
        let cloudtrail = self.cloudtrail();
        cloudtrail
            .create_trail()
            .name(TRAIL)
            .s3_bucket_name("trail-bucket")
            .is_multi_region_trail(true)
            .send()
            .await
            .expect("moto CreateTrail");
        let started = cloudtrail.start_logging().name(TRAIL).send().await;
        started.expect("moto StartLogging");
    }

    /// The guard as the template sets it up, with `extra` settings after.
    async fn guard(&self, extra: &[(&'static str, &str)]) -> GuardProcessInner {
        let stack = self.stack.endpoint_url();
        let mut settings = self.stage.settings_with(&[
            // The stack's services; SNS, STS and EKS keep their own.
            ("AWS_ENDPOINT_URL", &stack),
            ("GUARD_SELF_CHECK", "true"),
            ("GUARD_EVENT_RULE_NAME", EVENT_RULE),
            ("GUARD_SCHEDULE_RULE_NAME", SCHEDULE_RULE),
            ("GUARD_ALARM_PREFIX", ALARM_PREFIX),
        ]);
        settings.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        GuardProcess::start_as(&self.function_arn, &settings).await
    }

    /// One scheduled sweep by a guard with `extra` settings: it must
    /// complete whatever the wiring (the check never fails the sweep).
    async fn sweep(&self, extra: &[(&'static str, &str)]) -> GuardProcessInner {
        let guard = self.guard(extra).await;
        let answer = sweep(&guard, &sweep_event()).await;
        assert_eq!(answer["outcome"], "swept", "{answer}");
        guard
    }

    /// The machine view of every alert published to the topic, subscribers
    /// or not (the EKS double holds no cluster: the sweep's own alerts are
    /// all there can be). Published before the sweep answered.
    async fn impaired(&self) -> Vec<Value> {
        let published = self.stage.moto.published(&self.stage.topic).await;
        published
            .iter()
            .map(|(subject, message)| {
                let subject = subject.as_deref().unwrap_or_default();
                assert!(subject.contains("Guard IMPAIRED"), "{subject}");
                let views: Value = serde_json::from_str(message).expect("MessageStructure=json");
                serde_json::from_str(views["sqs"].as_str().expect("an sqs view")).unwrap()
            })
            .collect()
    }

    /// The one IMPAIRED alert of the sweep, with exactly one problem: that
    /// problem.
    async fn only_problem(&self, guard: &GuardProcessInner) -> Value {
        let alerts = self.impaired().await;
        assert_eq!(alerts.len(), 1, "{alerts:#?}\n{}", guard.logs().join("\n"));
        let alert = &alerts[0];
        assert_eq!(alert["schema"], "eks-endpoint-guard/impaired/v1");
        assert_eq!(alert["functionArn"], self.function_arn.as_str());
        let problems = alert["problems"].as_array().expect("problems");
        assert_eq!(problems.len(), 1, "{alert:#}");
        assert_eq!(impaired_metric(guard), Some(1));
        problems[0].clone()
    }
}

/// `GuardImpaired` of the sweep's EMF line, if it printed one.
fn impaired_metric(guard: &GuardProcessInner) -> Option<u64> {
    let lines: Vec<Value> = guard
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("GuardImpaired").is_some())
        .collect();
    assert!(lines.len() <= 1, "one wiring check per sweep: {lines:?}");
    lines
        .first()
        .and_then(|line| line["GuardImpaired"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_wiring_gives_no_impaired_alert() {
    let wired = wired().await;
    let guard = wired.sweep(&[]).await;
    assert_eq!(wired.impaired().await, Vec::<Value>::new());
    assert_eq!(impaired_metric(&guard), Some(0));
    assert_eq!(guard.log_records("wiring whole").len(), 1);
    assert_eq!(guard.log_records("wiring check skipped").len(), 0);
    // The inbox (the topic's confirmed subscriber) heard nothing either.
    let alerts = wired
        .stage
        .alerts(1, std::time::Duration::from_secs(1))
        .await;
    assert!(alerts.is_empty(), "{alerts:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_event_rule_is_one_impaired_alert() {
    let wired = wired().await;
    let disabled = wired.events().disable_rule().name(EVENT_RULE).send().await;
    disabled.expect("moto DisableRule");
    let guard = wired.sweep(&[]).await;
    let problem = wired.only_problem(&guard).await;
    assert_eq!(problem["check"], "event-rule");
    let text = problem["problem"].as_str().unwrap();
    assert!(
        text.contains(EVENT_RULE) && text.contains("DISABLED"),
        "{text}"
    );
    assert_eq!(
        problem["mend"],
        format!("aws events enable-rule --name {EVENT_RULE}")
    );
    // The subscriber hears it too.
    let heard = wired.stage.finding().await;
    assert_eq!(heard["problems"][0]["check"], "event-rule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_target_is_one_impaired_alert() {
    let wired = wired().await;
    let removed = wired
        .events()
        .remove_targets()
        .rule(SCHEDULE_RULE)
        .ids(TARGET_ID)
        .send()
        .await;
    removed.expect("moto RemoveTargets");
    let guard = wired.sweep(&[]).await;
    let problem = wired.only_problem(&guard).await;
    assert_eq!(problem["check"], "schedule-rule");
    let text = problem["problem"].as_str().unwrap();
    assert!(text.contains(SCHEDULE_RULE), "{text}");
    assert!(text.contains("does not target this function"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserved_concurrency_of_zero_is_one_impaired_alert() {
    let wired = wired().await;
    aws_sdk_lambda::Client::new(&wired.sdk)
        .put_function_concurrency()
        .function_name(FUNCTION)
        .reserved_concurrent_executions(0)
        .send()
        .await
        .expect("moto PutFunctionConcurrency");
    let guard = wired.sweep(&[]).await;
    let problem = wired.only_problem(&guard).await;
    assert_eq!(problem["check"], "concurrency");
    let text = problem["problem"].as_str().unwrap();
    assert!(text.contains("reserved concurrency of 0"), "{text}");
    assert!(text.contains(FUNCTION), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_without_confirmed_subscribers_is_one_impaired_alert() {
    let wired = wired().await;
    let sns = wired.stage.moto.sns();
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&wired.stage.topic)
        .send()
        .await
        .expect("moto ListSubscriptionsByTopic");
    assert!(
        !listed.subscriptions().is_empty(),
        "the inbox is subscribed"
    );
    for subscription in listed.subscriptions() {
        let arn = subscription.subscription_arn().expect("an ARN");
        let gone = sns.unsubscribe().subscription_arn(arn).send().await;
        gone.expect("moto Unsubscribe");
    }
    let guard = wired.sweep(&[]).await;
    let problem = wired.only_problem(&guard).await;
    assert_eq!(problem["check"], "topic");
    let text = problem["problem"].as_str().unwrap();
    assert!(text.contains(&wired.stage.topic), "{text}");
    assert!(
        text.contains("no confirmed subscription (0 pending)"),
        "{text}"
    );
    // Nobody could read it: the log says it all the same.
    assert_eq!(guard.log_records("guard IMPAIRED").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_alarm_actions_are_one_impaired_alert() {
    let wired = wired().await;
    let muted = format!("{ALARM_PREFIX}errors");
    let disabled = wired
        .cloudwatch()
        .disable_alarm_actions()
        .alarm_names(&muted)
        .send()
        .await;
    disabled.expect("moto DisableAlarmActions");
    let guard = wired.sweep(&[]).await;
    let problem = wired.only_problem(&guard).await;
    assert_eq!(problem["check"], "alarms");
    let text = problem["problem"].as_str().unwrap();
    assert!(text.contains(&muted), "{text}");
    assert!(!text.contains("heartbeat"), "only the muted alarm: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_trail_is_one_impaired_alert() {
    let wired = wired().await;
    let stopped = wired.cloudtrail().stop_logging().name(TRAIL).send().await;
    stopped.expect("moto StopLogging");
    let guard = wired.sweep(&[]).await;
    let problem = wired.only_problem(&guard).await;
    assert_eq!(problem["check"], "trail");
    let text = problem["problem"].as_str().unwrap();
    assert!(
        text.contains(&format!("trail/{TRAIL} is not logging")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_that_cannot_be_read_is_a_problem_not_a_pass() {
    let wired = wired().await;
    // CloudTrail at a port nobody listens on: the trails cannot be read.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let guard = wired
        .sweep(&[("AWS_ENDPOINT_URL_CLOUDTRAIL", &nowhere)])
        .await;
    let problem = wired.only_problem(&guard).await;
    assert_eq!(problem["check"], "trail");
    let text = problem["problem"].as_str().unwrap();
    assert!(
        text.starts_with("could not check the trails: DescribeTrails"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unset_names_skip_their_checks_and_say_so() {
    let wired = wired().await;
    // The rules are broken, but the guard is not told their names.
    let disabled = wired.events().disable_rule().name(EVENT_RULE).send().await;
    disabled.expect("moto DisableRule");
    let guard = wired
        .sweep(&[
            ("GUARD_EVENT_RULE_NAME", ""),
            ("GUARD_SCHEDULE_RULE_NAME", ""),
            ("GUARD_ALARM_PREFIX", ""),
        ])
        .await;
    assert_eq!(wired.impaired().await, Vec::<Value>::new());
    let skipped: Vec<String> = guard
        .log_records("wiring check skipped")
        .iter()
        .map(|record| field(record, "check").as_str().unwrap().to_string())
        .collect();
    assert_eq!(skipped, ["event rule", "schedule rule", "alarms"]);
    assert_eq!(impaired_metric(&guard), Some(0));
    // Without GUARD_SELF_CHECK nothing is checked, and the log says that.
    let off = wired.sweep(&[("GUARD_SELF_CHECK", "")]).await;
    assert_eq!(
        off.log_records("wiring check off (GUARD_SELF_CHECK is not true)")
            .len(),
        1
    );
    assert_eq!(impaired_metric(&off), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_time_left_for_the_check_is_a_named_problem() {
    let wired = wired().await;
    // The alarm prefix unset: a reader that ran would log that skip.
    let guard = wired.guard(&[("GUARD_ALARM_PREFIX", "")]).await;
    // Less than the time kept for the sweep's answer and one whole call
    // (3 s with the testkit's 1 s attempts): nothing is read. The sweep
    // itself may not get far either; whatever it answers, the check said so.
    let deadline = std::time::Duration::from_secs(3);
    let _answer = guard.invoke_with_deadline(&sweep_event(), deadline).await;
    let published = wired.stage.moto.published(&wired.stage.topic).await;
    let impaired: Vec<Value> = published
        .iter()
        .filter(|(subject, _)| {
            subject
                .as_deref()
                .is_some_and(|s| s.contains("Guard IMPAIRED"))
        })
        .map(|(_, message)| {
            let views: Value = serde_json::from_str(message).unwrap();
            serde_json::from_str(views["sqs"].as_str().unwrap()).unwrap()
        })
        .collect();
    assert_eq!(impaired.len(), 1, "{published:#?}");
    let problems = impaired[0]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0]["check"], "itself");
    let text = problems[0]["problem"].as_str().unwrap();
    assert!(text.contains("no time left"), "{text}");
    assert_eq!(impaired_metric(&guard), Some(1));
    // Nothing was read: the reader never ran.
    assert_eq!(guard.log_records("wiring check skipped").len(), 0);
}
