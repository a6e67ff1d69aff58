#!/usr/bin/env python3
"""Checks the watch rules (GuardWatch, GuardWatchAlerts) and the heartbeat alarm.

The two rules match the CloudTrail records of calls that disable, redirect
or blind the guard (issue 17) and send them straight to the alert topic
(two because one pattern with every name would pass EventBridge's default
limit of 2,048 characters). Their patterns name the guard's own resources through Ref/GetAtt/Sub, so this
script resolves it with sample names (SAMPLE below, the same names the
records in events/watch/ use) and evaluates it with moto's EventBridge
matcher (moto.events.models.EventPattern; EventBridge's TestEventPattern
needs an account, and moto does not implement it), in two layouts:

- the defaults: single account, no second topic;
- everything on: the central layout (the organization bus's rule) and a
  second alert topic (SecondAlertEmail).

Cases:

- every events/watch/match/*.json must match exactly one of the rules (in
  both layouts, except the files named *-second-topic* and *-central-*,
  which match only where that resource exists);
- every events/watch/ignore/*.json must not match: the same calls on
  resources that are not the guard's, failed calls, read-only calls, the
  record shapes of other services;
- no events/*.json (the guard's own EKS samples) may match.

It also checks what EventBridge and CloudWatch would refuse or get wrong:
the resolved pattern stays within EventBridge's default event-pattern size
(2,048 characters; 4,096 only with a quota increase), with the longest
names a stack can get; the event sources are exact names (never
"eventbridge.amazonaws.com"); each target's input template uses only
variables it defines; the Chatbot card is JSON once filled in; and the
heartbeat alarm's properties (FILL over SweepCompleted, two of two periods
of SweepPeriodSeconds, breaching, alarm and OK actions to the alert topic
and the second channel, only with HasSweep).

    .venv/bin/python scripts/check-watch-pattern.py [TEMPLATE...]

(default: template.yaml; make lint passes template.yaml and
build/stackset.yaml.)
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import sys

from cfnlint.decode import decode
from moto.events.models import EventPattern

WATCH_RULES = ("GuardWatch", "GuardWatchAlerts")
HEARTBEAT = "GuardHeartbeatAlarm"
PATTERN_LIMIT = 2048  # EventBridge's default quota for one rule's pattern

ACCOUNT = "111122223333"
REGION = "eu-west-1"
STACK = "eks-endpoint-guard"

# The names events/watch/ uses (events/watch/README.md).
SAMPLE = {
    "AWS::StackName": STACK,
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "GuardFunction": "eks-endpoint-guard-GuardFunction-Ab12Cd34Ef56",
    "GuardFunction.Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eks-endpoint-guard-GuardFunction-Ab12Cd34Ef56",
    "GuardFunctionEksEndpointChange": "eks-endpoint-guard-GuardFunctionEksEndpointChan-1A2B3C4D5E6F",
    "GuardFunctionSweep": "eks-endpoint-guard-GuardFunctionSweep-9Z8Y7X6W5V4U",
    "OrganizationEksEndpointChange.Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/eks-endpoint-guard/eks-endpoint-guard-OrganizationEksEndpointCh-QW12ER34TY56",
    "GuardWatch.Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/eks-endpoint-guard-GuardWatch-7H8J9K0L1M2N",
    "GuardWatchAlerts.Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/eks-endpoint-guard-GuardWatchAlerts-3P4Q5R6S7T8U",
    "AlertTopic": f"arn:aws:sns:{REGION}:{ACCOUNT}:eks-endpoint-guard-AlertTopic-Zx9Yw8Vu7Ts6",
    "SecondAlertTopic": f"arn:aws:sns:{REGION}:{ACCOUNT}:eks-endpoint-guard-SecondAlertTopic-Pq1Rs2Tu3Vw4",
    "SecondAlertTopicArn": "",
    "GuardKey": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "GuardKey.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "GuardRole": "eks-endpoint-guard-GuardRole-Mn0Bv9Cx8Zl7",
    "FailureQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:eks-endpoint-guard-FailureQueue-Lk6Jh5Gf4Ds3",
}

# The longest names: a StackSets instance (StackSet-<name>-<uuid>) whose
# generated names CloudFormation cuts to 64 characters.
LONG_STACK = "StackSet-eks-endpoint-guard-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
LONG = dict(
    SAMPLE,
    **{
        "AWS::StackName": LONG_STACK,
        "AWS::Region": "ap-southeast-2",
        "GuardFunction": ("StackSet-eks-endpoint-guard-0a1b2c3d-GuardFunction-" + "X" * 64)[:64],
        "GuardFunctionEksEndpointChange": ("StackSet-eks-endpoint-guard-0a1b2c3-GuardFunctionEks-" + "X" * 64)[:64],
        "GuardFunctionSweep": ("StackSet-eks-endpoint-guard-0a1b2c3d-GuardFunctionSwee-" + "X" * 64)[:64],
        "OrganizationEksEndpointChange.Arn": "arn:aws-us-gov:events:ap-southeast-2:111122223333:rule/"
        + LONG_STACK
        + "/"
        + ("StackSet-eks-endpoint-guard-0a1b2c3d-OrganizationEksE-" + "X" * 64)[:64],
        # SNS allows 256 characters, so CloudFormation does not shorten the
        # generated <stack>-<logical id>-<13 characters> topic names.
        "AlertTopic": f"arn:aws-us-gov:sns:ap-southeast-2:111122223333:{LONG_STACK}-AlertTopic-ABCDEFGHIJKLM",
        "SecondAlertTopic": f"arn:aws-us-gov:sns:ap-southeast-2:111122223333:{LONG_STACK}-SecondAlertTopic-ABCDEFGHIJKLM",
        "GuardKey.Arn": "arn:aws-us-gov:kms:ap-southeast-2:111122223333:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "GuardRole": ("StackSet-eks-endpoint-guard-0a1b2c3d-GuardRole-" + "X" * 64)[:64],
    },
)

DEFAULTS = {"IsCentral": False, "HasSecondAlertEmail": False, "HasSecondAlertTopicArn": False,
            "HasChatCard": False, "HasSweep": True}
EVERYTHING = dict(DEFAULTS, IsCentral=True, HasSecondAlertEmail=True, HasChatCard=True)
EVERYTHING_ARN = dict(DEFAULTS, HasSecondAlertTopicArn=True, HasChatCard=True)

NO_VALUE = object()


def resolve(node, names: dict, conditions: dict):
    """The node with Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Select, Fn::Split resolved."""
    if isinstance(node, list):
        out = [resolve(item, names, conditions) for item in node]
        return [item for item in out if item is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, value), = node.items()
        if key == "Ref":
            if value == "AWS::NoValue":
                return NO_VALUE
            return names[value]
        if key == "Fn::GetAtt":
            name = ".".join(value) if isinstance(value, list) else value
            return names[name]
        if key == "Fn::Sub":
            text, extra = (value, {}) if isinstance(value, str) else (value[0], value[1])
            lookup = dict(names, **{k: resolve(v, names, conditions) for k, v in extra.items()})
            return re.sub(r"\$\{([^!}][^}]*)\}", lambda m: lookup[m.group(1)], text)
        if key == "Fn::If":
            condition, yes, no = value
            return resolve(yes if conditions[condition] else no, names, conditions)
        if key == "Fn::Select":
            index, items = value
            return resolve(items, names, conditions)[int(index)]
        if key == "Fn::Split":
            separator, text = value
            return resolve(text, names, conditions).split(separator)
    out = {k: resolve(v, names, conditions) for k, v in node.items()}
    return {k: v for k, v in out.items() if v is not NO_VALUE}


def load(template_path: str) -> dict:
    template, matches = decode(template_path)
    if matches:
        sys.exit(f"{template_path}: cannot parse: {matches}")
    # decode() gives str/dict subclasses that remember their line numbers.
    return json.loads(json.dumps(template))


def read_events(pattern: str) -> list[tuple[str, dict]]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = []
    for path in sorted(glob.glob(os.path.join(root, pattern))):
        try:
            with open(path, encoding="utf-8") as f:
                event = json.load(f)
        except (OSError, ValueError):
            continue  # deliberately malformed samples are the guard's business
        if isinstance(event, dict) and "detail-type" in event:
            found.append((os.path.relpath(path, root), event))
    return found


def expected_in(name: str, conditions: dict) -> bool:
    """Whether a match/ sample names a resource that this layout has."""
    if "-second-topic" in name and not conditions["HasSecondAlertEmail"]:
        return False
    if "-central-" in name and not conditions["IsCentral"]:
        return False
    return True


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str, verbose: bool = True) -> None:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        if verbose or not ok:
            print(f"{'ok ' if ok else 'BAD'}  {what}")


def check_sources(patterns: list[dict], report: Report, label: str) -> None:
    sources = sorted({s for pattern in patterns for branch in pattern["detail"]["$or"] for s in branch["eventSource"]})
    wanted = {"events.amazonaws.com", "lambda.amazonaws.com", "sns.amazonaws.com", "monitoring.amazonaws.com",
              "kms.amazonaws.com", "cloudtrail.amazonaws.com", "iam.amazonaws.com"}
    report.check(set(sources) == wanted, f"{label}: event sources are exactly {sorted(wanted)} (got {sources})")
    for pattern in patterns:
        report.check(pattern.get("detail-type") == ["AWS API Call via CloudTrail"], f"{label}: CloudTrail API calls only")
        report.check(pattern["detail"].get("errorCode") == [{"exists": False}], f"{label}: successful calls only")


def check_targets(rule: dict, names: dict, conditions: dict, report: Report, label: str) -> None:
    targets = resolve(rule["Properties"]["Targets"], names, conditions)
    arns = [t["Arn"] for t in targets]
    want = [names["AlertTopic"]] * (2 if conditions["HasChatCard"] else 1)
    if conditions["HasSecondAlertEmail"]:
        want.append(names["SecondAlertTopic"])
    if conditions["HasSecondAlertTopicArn"]:
        want.append(names["SecondAlertTopicArn"])
    report.check(arns == want, f"{label}: targets {arns}")
    ids = [t["Id"] for t in targets]
    report.check(len(set(ids)) == len(ids), f"{label}: target ids unique")
    sample = {"who": "arn:aws:sts::111122223333:assumed-role/Admin/mallory", "via": "", "ip": "203.0.113.7",
              "agent": "aws-cli/2", "service": "events.amazonaws.com", "call": "DisableRule",
              "time": "2026-12-01T10:00:00Z", "account": ACCOUNT, "region": REGION,
              "id": "e1d2c3b4-0000-4000-8000-000000000001", "request": '{"name": "x"}',
              "aws.events.rule-name": "eks-endpoint-guard-GuardWatch-7H8J9K0L1M2N"}
    for target in targets:
        transformer = target.get("InputTransformer")
        report.check(transformer is not None, f"{label}: {target['Id']} has an input transformer")
        if not transformer:
            continue
        template = transformer["InputTemplate"]
        used = set(re.findall(r"<([A-Za-z0-9_.-]+)>", template))
        defined = set(transformer["InputPathsMap"]) | {"aws.events.rule-name", "aws.events.rule-arn"}
        report.check(used <= defined, f"{label}: {target['Id']} uses only defined variables ({sorted(used - defined)})")
        for needed in ("who", "call", "service", "account", "region"):
            report.check(needed in used, f"{label}: {target['Id']} names {needed}", verbose=False)
        if not template.lstrip().startswith("{"):
            # EventBridge's guide: "For Strings, quotes are required" (one
            # quoted string per line, as AWS's own SNS e-mail examples do).
            lines = template.strip("\n").split("\n")
            report.check(all(len(line) >= 2 and line[0] == '"' and line[-1] == '"' for line in lines),
                         f"{label}: {target['Id']} text template: every line a quoted string")
        else:
            # EventBridge does not escape the values it fills in: a JSON
            # template may only take values that cannot hold a quote.
            report.check(not used & {"agent", "request"},
                         f"{label}: {target['Id']} card uses no value that may hold a quote (user agent, request)")
            filled = re.sub(r"<([A-Za-z0-9_.-]+)>", lambda m: sample[m.group(1)], template)
            try:
                card = json.loads(filled)
                ok = card.get("version") == "1.0" and card.get("source") == "custom" and card["content"]["title"]
            except (ValueError, KeyError, TypeError):
                ok = False
            report.check(bool(ok), f"{label}: {target['Id']} is an AWS Chatbot custom notification once filled in")
            report.check("\n" not in template, f"{label}: {target['Id']} card on one line")
        if target["Arn"] == names["AlertTopic"]:
            report.check(target.get("DeadLetterConfig", {}).get("Arn") == names["FailureQueue.Arn"],
                         f"{label}: {target['Id']} keeps undeliverable messages in FailureQueue")


def check_heartbeat(template: dict, report: Report, label: str) -> None:
    alarm = template["Resources"].get(HEARTBEAT)
    report.check(alarm is not None, f"{label}: {HEARTBEAT} exists")
    if alarm is None:
        return
    report.check(alarm.get("Condition") == "HasSweep", f"{label}: heartbeat only with a sweep (HasSweep)")
    props = alarm["Properties"]
    metrics = {m["Id"]: m for m in props["Metrics"]}
    stat = next((m["MetricStat"] for m in metrics.values() if "MetricStat" in m), {})
    metric = stat.get("Metric", {})
    report.check(metric.get("Namespace") == "EksEndpointGuard" and metric.get("MetricName") == "SweepCompleted"
                 and metric.get("Dimensions") == [{"Name": "Service", "Value": "eks-endpoint-guard"}],
                 f"{label}: heartbeat reads EksEndpointGuard/SweepCompleted, Service=eks-endpoint-guard")
    report.check(stat.get("Stat") == "Sum" and stat.get("Period") == {"Ref": "SweepPeriodSeconds"},
                 f"{label}: Sum per SweepPeriodSeconds")
    returned = [m for m in metrics.values() if m.get("ReturnData", True)]
    report.check(len(returned) == 1 and re.fullmatch(r"FILL\(\s*\w+\s*,\s*0\s*\)", returned[0].get("Expression", "")),
                 f"{label}: the alarm judges FILL(SweepCompleted, 0): a period without a sweep is a real 0")
    report.check(props.get("EvaluationPeriods") == 2 and props.get("DatapointsToAlarm") == 2,
                 f"{label}: two of two periods")
    report.check(props.get("ComparisonOperator") == "LessThanThreshold" and float(props.get("Threshold")) == 1,
                 f"{label}: fewer than 1 completed sweep per period breaches")
    report.check(props.get("TreatMissingData") == "breaching", f"{label}: no data at all breaches")
    for names, conditions in ((SAMPLE, DEFAULTS), (SAMPLE, EVERYTHING), (dict(SAMPLE, SecondAlertTopicArn="arn:aws:sns:eu-west-1:999988887777:security"), EVERYTHING_ARN)):
        actions = resolve(props["AlarmActions"], names, conditions)
        ok_actions = resolve(props["OKActions"], names, conditions)
        want = [names["AlertTopic"]]
        if conditions["HasSecondAlertEmail"]:
            want.append(names["SecondAlertTopic"])
        if conditions["HasSecondAlertTopicArn"]:
            want.append(names["SecondAlertTopicArn"])
        report.check(actions == want and ok_actions == want, f"{label}: heartbeat alarm and OK actions {want}")
    name = resolve(props["AlarmName"], SAMPLE, DEFAULTS)
    report.check(name.startswith(f"{STACK}-guard-"), f"{label}: named {name} (the topic and key policies admit <stack>-guard-*)")
    period = template["Parameters"]["SweepPeriodSeconds"]
    allowed = [int(v) for v in period["AllowedValues"]]
    report.check(all(v % 60 == 0 and 2 * v <= 86400 for v in allowed) and int(period["Default"]) == 3600,
                 f"{label}: SweepPeriodSeconds multiples of 60, two periods within a day, default 3600")


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    template_paths = sys.argv[1:] or [os.path.join(root, "template.yaml")]
    matching = read_events("events/watch/match/*.json")
    ignored = read_events("events/watch/ignore/*.json")
    guard_samples = read_events("events/*.json")
    if len(matching) < 20 or len(ignored) < 15:
        sys.exit(f"check-watch-pattern: too few samples ({len(matching)} match, {len(ignored)} ignore)")
    report = Report()
    for template_path in template_paths:
        label = os.path.relpath(template_path, root)
        template = load(template_path)
        rules = {}
        for rule_name in WATCH_RULES:
            if rule_name not in template["Resources"]:
                sys.exit(f"{label}: no Resources.{rule_name}")
            rules[rule_name] = template["Resources"][rule_name]
        for layout, conditions in (("defaults", DEFAULTS), ("central + second topic", EVERYTHING)):
            where = f"{label} [{layout}]"
            patterns = {n: resolve(r["Properties"]["EventPattern"], SAMPLE, conditions) for n, r in rules.items()}
            check_sources(list(patterns.values()), report, where)
            matchers = {n: EventPattern(None, p) for n, p in patterns.items()}

            def matched_by(event: dict) -> list[str]:
                return [n for n, m in matchers.items() if m.matches_event(copy.deepcopy(event))]

            for name, event in matching:
                want = expected_in(name, conditions)
                got = matched_by(event)
                ok = len(got) == 1 if want else not got
                report.check(ok, f"{where}: {'matched by ' + ', '.join(got) if got else 'ignored'}  {name}")
            for name, event in ignored + guard_samples:
                got = matched_by(event)
                report.check(not got, f"{where}: {'matched by ' + ', '.join(got) if got else 'ignored'}  {name}",
                             verbose=name.startswith("events/watch/"))
            for rule_name, rule in rules.items():
                check_targets(rule, SAMPLE, conditions, report, f"{where} {rule_name}")
                long_pattern = json.dumps(resolve(rule["Properties"]["EventPattern"], LONG, conditions),
                                          separators=(",", ":"))
                report.check(len(long_pattern) <= PATTERN_LIMIT,
                             f"{where} {rule_name}: pattern {len(long_pattern)} characters with the longest names"
                             f" (limit {PATTERN_LIMIT})")
        for rule_name, rule in rules.items():
            check_targets(rule, dict(SAMPLE, SecondAlertTopicArn="arn:aws:sns:eu-west-1:999988887777:security"),
                          EVERYTHING_ARN, report, f"{label} [SecondAlertTopicArn] {rule_name}")
        check_heartbeat(template, report, label)
    print(f"watch-pattern: {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
