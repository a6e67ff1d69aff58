//! The judgement of the wiring, one problem at a time: a whole wiring
//! gives none, and each thing broken gives exactly one problem naming it.

use super::*;

const REGION: &str = "eu-west-1";
const FUNCTION: &str = "arn:aws:lambda:eu-west-1:111122223333:function:guard";
const TOPIC: &str = "arn:aws:sns:eu-west-1:111122223333:alerts";

fn rule(name: &str) -> Rule {
    Rule {
        name: name.into(),
        state: Some("ENABLED".into()),
        target_arns: vec![FUNCTION.into()],
    }
}

fn trail(arn: &str) -> Trail {
    Trail {
        arn: arn.into(),
        home_region: REGION.into(),
        multi_region: false,
        custom_selectors: false,
        logging: Some(Ok(true)),
        selectors: Some(Ok(Selectors::default())),
    }
}

fn field(name: &str, equals: &[&str]) -> FieldSelector {
    FieldSelector {
        field: name.into(),
        equals: equals.iter().map(|v| v.to_string()).collect(),
        ..FieldSelector::default()
    }
}

/// Everything checked, and all of it whole.
fn whole() -> Wiring {
    Wiring {
        function_arn: FUNCTION.into(),
        event_rule: Some(Ok(rule("events"))),
        schedule_rule: Some(Ok(rule("sweep"))),
        concurrency: Some(Ok(Concurrency {
            function: "guard".into(),
            reserved: None,
        })),
        topic: Some(Ok(Topic {
            arn: TOPIC.into(),
            subscription_arns: vec![format!("{TOPIC}:1"), "PendingConfirmation".into()],
        })),
        alarms: Some(Ok(Alarms {
            prefix: "stack-guard-".into(),
            alarms: vec![
                ("stack-guard-errors".into(), true),
                ("stack-guard-heartbeat".into(), true),
            ],
        })),
        trails: Some(Ok(vec![trail(
            "arn:aws:cloudtrail:eu-west-1:111122223333:trail/main",
        )])),
        skipped: Vec::new(),
    }
}

/// The one problem `wiring` has: its check, and its text.
fn only_problem(wiring: &Wiring) -> Problem {
    let problems = judge(wiring, REGION);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    problems.into_iter().next().unwrap()
}

fn with_trail(change: impl FnOnce(&mut Trail)) -> Wiring {
    let mut wiring = whole();
    let mut t = trail("arn:aws:cloudtrail:eu-west-1:111122223333:trail/main");
    change(&mut t);
    wiring.trails = Some(Ok(vec![t]));
    wiring
}

#[test]
fn a_whole_wiring_has_no_problem_and_nothing_checked_has_none_either() {
    assert_eq!(judge(&whole(), REGION), Vec::new());
    assert_eq!(judge(&Wiring::default(), REGION), Vec::new());
    // Enabled for read-only events as well is enabled; a qualified target
    // ($LATEST, an alias) is this function.
    let mut wiring = whole();
    let mut events = rule("events");
    events.state = Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS".into());
    events.target_arns = vec![format!("{FUNCTION}:live")];
    wiring.event_rule = Some(Ok(events));
    wiring.concurrency = Some(Ok(Concurrency {
        function: "guard".into(),
        reserved: Some(5),
    }));
    assert_eq!(judge(&wiring, REGION), Vec::new());
}

#[test]
fn each_rule_disabled_missing_or_not_targeting_the_function_is_named() {
    for (check, name) in [(Check::EventRule, "events"), (Check::ScheduleRule, "sweep")] {
        let set = |wiring: &mut Wiring, rule: Read<Rule>| match check {
            Check::EventRule => wiring.event_rule = Some(rule),
            _ => wiring.schedule_rule = Some(rule),
        };
        let mut disabled = whole();
        let mut r = rule(name);
        r.state = Some("DISABLED".into());
        set(&mut disabled, Ok(r));
        let p = only_problem(&disabled);
        assert_eq!(p.check, check);
        assert!(
            p.problem.contains(name) && p.problem.contains("DISABLED"),
            "{p:?}"
        );
        assert_eq!(p.mend, format!("aws events enable-rule --name {name}"));

        let mut untargeted = whole();
        let mut r = rule(name);
        r.target_arns = vec!["arn:aws:lambda:eu-west-1:111122223333:function:other".into()];
        set(&mut untargeted, Ok(r));
        let p = only_problem(&untargeted);
        assert!(p.problem.contains("does not target this function"), "{p:?}");
        assert!(p.problem.contains(FUNCTION), "{p:?}");

        let mut gone = whole();
        set(
            &mut gone,
            Ok(Rule {
                name: name.into(),
                ..Rule::default()
            }),
        );
        assert!(only_problem(&gone).problem.contains("does not exist"));

        let mut unread = whole();
        set(&mut unread, Err("AccessDeniedException: no".into()));
        let p = only_problem(&unread);
        assert_eq!(p.check, check);
        assert!(p.problem.starts_with("could not check"), "{p:?}");
        assert!(p.problem.contains("AccessDeniedException"), "{p:?}");
    }
}

#[test]
fn a_disabled_rule_without_target_has_both_problems_and_an_unknown_arn_is_unread() {
    let mut wiring = whole();
    wiring.event_rule = Some(Ok(Rule {
        name: "events".into(),
        state: Some("DISABLED".into()),
        target_arns: Vec::new(),
    }));
    assert_eq!(judge(&wiring, REGION).len(), 2);
    let mut unknown = whole();
    unknown.function_arn = String::new();
    unknown.schedule_rule = None;
    let p = only_problem(&unknown);
    assert!(p.problem.contains("own ARN is unknown"), "{p:?}");
}

#[test]
fn a_reserved_concurrency_of_zero_is_a_problem_and_an_unread_one_too() {
    let mut zero = whole();
    zero.concurrency = Some(Ok(Concurrency {
        function: "guard".into(),
        reserved: Some(0),
    }));
    let p = only_problem(&zero);
    assert_eq!(p.check, Check::Concurrency);
    assert!(p.problem.contains("reserved concurrency of 0"), "{p:?}");
    assert!(
        p.mend
            .contains("delete-function-concurrency --function-name guard")
    );
    let mut unread = whole();
    unread.concurrency = Some(Err("TooManyRequestsException: slow down".into()));
    assert!(only_problem(&unread).problem.contains("could not check"));
}

#[test]
fn a_topic_needs_one_confirmed_subscription() {
    for subscriptions in [vec![], vec!["PendingConfirmation".to_string()]] {
        let mut wiring = whole();
        wiring.topic = Some(Ok(Topic {
            arn: TOPIC.into(),
            subscription_arns: subscriptions.clone(),
        }));
        let p = only_problem(&wiring);
        assert_eq!(p.check, Check::Topic);
        assert!(p.problem.contains(TOPIC), "{p:?}");
        assert!(
            p.problem
                .contains(&format!("({} pending)", subscriptions.len())),
            "{p:?}"
        );
    }
    let mut unread = whole();
    unread.topic = Some(Err("AuthorizationError: no".into()));
    assert!(only_problem(&unread).problem.contains("AuthorizationError"));
}

#[test]
fn muted_or_missing_alarms_are_named() {
    let mut muted = whole();
    muted.alarms = Some(Ok(Alarms {
        prefix: "stack-guard-".into(),
        alarms: vec![
            ("stack-guard-errors".into(), false),
            ("stack-guard-heartbeat".into(), true),
            ("stack-guard-throttles".into(), false),
        ],
    }));
    let p = only_problem(&muted);
    assert_eq!(p.check, Check::Alarms);
    assert!(
        p.problem
            .contains("stack-guard-errors, stack-guard-throttles"),
        "{p:?}"
    );
    assert!(!p.problem.contains("heartbeat"), "{p:?}");
    assert!(
        p.mend
            .ends_with("--alarm-names stack-guard-errors stack-guard-throttles")
    );
    let mut none = whole();
    none.alarms = Some(Ok(Alarms {
        prefix: "stack-guard-".into(),
        alarms: Vec::new(),
    }));
    assert!(
        only_problem(&none)
            .problem
            .contains("no alarm is named stack-guard-*")
    );
    let mut unread = whole();
    unread.alarms = Some(Err("Throttling: rate exceeded".into()));
    assert!(only_problem(&unread).problem.contains("Throttling"));
}

#[test]
fn a_stopped_missing_or_unreadable_trail_is_a_problem() {
    let stopped = with_trail(|t| t.logging = Some(Ok(false)));
    let p = only_problem(&stopped);
    assert_eq!(p.check, Check::Trail);
    assert!(p.problem.contains("trail/main is not logging"), "{p:?}");
    let unread = with_trail(|t| t.logging = Some(Err("AccessDeniedException: no".into())));
    assert!(
        only_problem(&unread)
            .problem
            .contains("could not be checked (status)")
    );
    let selectors_unread =
        with_trail(|t| t.selectors = Some(Err("AccessDeniedException: no".into())));
    assert!(
        only_problem(&selectors_unread)
            .problem
            .contains("could not be checked (event selectors)")
    );
    let never_read = with_trail(|t| t.logging = None);
    assert!(only_problem(&never_read).problem.contains("was not read"));
    let mut none = whole();
    none.trails = Some(Ok(Vec::new()));
    assert!(
        only_problem(&none)
            .problem
            .contains("no CloudTrail trail covers eu-west-1")
    );
    let mut unlisted = whole();
    unlisted.trails = Some(Err("AccessDeniedException: no".into()));
    assert!(
        only_problem(&unlisted)
            .problem
            .contains("could not check the trails")
    );
}

#[test]
fn only_trails_covering_the_region_count_and_one_good_one_is_enough() {
    // A single-region trail of another region does not cover this one.
    let elsewhere = with_trail(|t| t.home_region = "us-east-1".into());
    assert!(
        only_problem(&elsewhere)
            .problem
            .contains("no CloudTrail trail covers")
    );
    // Its multi-region shadow does.
    let shadow = with_trail(|t| {
        t.home_region = "us-east-1".into();
        t.multi_region = true;
    });
    assert_eq!(judge(&shadow, REGION), Vec::new());
    // A stopped trail beside a logging one: the logging one feeds the guard.
    let mut two = whole();
    let mut stopped = trail("arn:aws:cloudtrail:eu-west-1:111122223333:trail/old");
    stopped.logging = Some(Ok(false));
    two.trails = Some(Ok(vec![
        stopped,
        trail("arn:aws:cloudtrail:eu-west-1:111122223333:trail/main"),
    ]));
    assert_eq!(judge(&two, REGION), Vec::new());
}

#[test]
fn basic_selectors_must_log_write_management_events_of_eks() {
    let judged = |selector: BasicSelector| {
        let wiring = with_trail(|t| {
            t.custom_selectors = true;
            t.selectors = Some(Ok(Selectors {
                basic: vec![selector],
                advanced: Vec::new(),
            }))
        });
        judge(&wiring, REGION)
    };
    let logs = |rw: &str| BasicSelector {
        read_write_type: Some(rw.into()),
        include_management_events: Some(true),
        exclude_management_event_sources: Vec::new(),
    };
    assert_eq!(judged(logs("All")), Vec::new());
    assert_eq!(judged(logs("WriteOnly")), Vec::new());
    assert_eq!(judged(BasicSelector::default()), Vec::new());
    let read_only = judged(logs("ReadOnly"));
    assert_eq!(read_only.len(), 1);
    assert!(
        read_only[0]
            .problem
            .contains("does not log EKS's write management events")
    );
    let no_management = BasicSelector {
        include_management_events: Some(false),
        ..logs("All")
    };
    assert_eq!(judged(no_management).len(), 1);
    let without_eks = BasicSelector {
        exclude_management_event_sources: vec![EKS_SOURCE.into()],
        ..logs("All")
    };
    assert_eq!(judged(without_eks).len(), 1);
}

#[test]
fn no_selectors_mean_the_default_unless_the_trail_says_they_are_custom() {
    // moto answers an empty list for a trail never given selectors; real
    // CloudTrail answers the default selector. Both log management events.
    assert_eq!(judge(&with_trail(|_| {}), REGION), Vec::new());
    let emptied = with_trail(|t| t.custom_selectors = true);
    assert!(only_problem(&emptied).problem.contains("select nothing"));
}

#[test]
fn advanced_selectors_are_matched_field_by_field() {
    let judged = |fields: Vec<FieldSelector>| {
        let wiring = with_trail(|t| {
            t.custom_selectors = true;
            t.selectors = Some(Ok(Selectors {
                basic: Vec::new(),
                advanced: vec![fields],
            }))
        });
        judge(&wiring, REGION)
    };
    let management = || field("eventCategory", &["Management"]);
    assert_eq!(judged(vec![management()]), Vec::new());
    assert_eq!(
        judged(vec![management(), field("readOnly", &["false"])]),
        Vec::new()
    );
    assert_eq!(
        judged(vec![management(), field("readOnly", &["true"])]).len(),
        1
    );
    assert_eq!(judged(vec![field("eventCategory", &["Data"])]).len(), 1);
    assert_eq!(judged(vec![field("readOnly", &["false"])]).len(), 1);
    let not_eks = FieldSelector {
        field: "eventSource".into(),
        not_equals: vec![EKS_SOURCE.into()],
        ..FieldSelector::default()
    };
    assert_eq!(judged(vec![management(), not_eks]).len(), 1);
    let kms_only = FieldSelector {
        field: "eventSource".into(),
        starts_with: vec!["kms.".into()],
        ..FieldSelector::default()
    };
    assert_eq!(judged(vec![management(), kms_only]).len(), 1);
    // Only some of the guard's calls: those missed are named.
    let some_calls = field("eventName", &["CreateCluster", "UpdateClusterConfig"]);
    let p = judged(vec![management(), some_calls]);
    assert_eq!(p.len(), 1);
    assert!(
        p[0].problem.contains("(TagResource, UntagResource)"),
        "{p:?}"
    );
    let prefixed = FieldSelector {
        field: "eventName".into(),
        not_starts_with: vec!["Untag".into()],
        ..FieldSelector::default()
    };
    assert!(
        judged(vec![management(), prefixed])[0]
            .problem
            .contains("(UntagResource)")
    );
    let suffixed = FieldSelector {
        field: "eventSource".into(),
        ends_with: vec![".amazonaws.com".into()],
        not_ends_with: vec!["kms.amazonaws.com".into()],
        ..FieldSelector::default()
    };
    assert_eq!(judged(vec![management(), suffixed]), Vec::new());
    // A field this judgement does not model: not proven, and said so.
    let p = judged(vec![management(), field("userIdentity.arn", &["x"])]);
    assert!(
        p[0].problem.contains("not understood: userIdentity.arn"),
        "{p:?}"
    );
}

#[test]
fn problems_come_in_check_order_one_per_broken_part() {
    let mut wiring = whole();
    wiring.trails = Some(Err("x".into()));
    wiring.event_rule = Some(Err("x".into()));
    wiring.topic = Some(Ok(Topic::default()));
    let checks: Vec<Check> = judge(&wiring, REGION).iter().map(|p| p.check).collect();
    assert_eq!(checks, [Check::EventRule, Check::Topic, Check::Trail]);
}
