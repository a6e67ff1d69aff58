#!/usr/bin/env python3
"""Checks the EventBridge patterns of the templates against sample events.

The pattern must match successful CreateCluster, UpdateClusterConfig,
TagResource and UntagResource calls of eks.amazonaws.com (the last two for the
exempt tag; the guard itself ignores other tags) and nothing else: not
read-only EKS calls, not other EKS writes, not failed calls (they carry
errorCode), not other services' calls of the same name (ECS, Redshift,
CloudHSM... have a CreateCluster too, and every service a TagResource).

EventBridge's TestEventPattern API needs an AWS account and moto does not
implement it, so the pattern is evaluated with moto's own matcher
(moto.events.models.EventPattern). Run with the project virtualenv:

    .venv/bin/python scripts/check-event-pattern.py [TEMPLATE...]

(default: template.yaml). Each template's EKS patterns are found: the SAM
event GuardFunction.Events.EksEndpointChange, and the EventPattern of every
AWS::Events::Rule (the central bus's rule in template.yaml, the member
accounts' forwarding rule in deploy/member.yaml, the rules SAM generates in
build/stackset.yaml). A rule without EventPattern (a schedule) is skipped, and
so are the watch rules on the guard's own wiring (GuardWatch,
GuardWatchAlerts), which scripts/check-watch-pattern.py checks.
Every pattern found must be identical to the first one, so the layouts can
never drift apart, and each is evaluated on all cases.

Besides the built-in cases, every events/*.json that is an EventBridge
envelope is evaluated too, and must match exactly when it is a successful
CreateCluster/UpdateClusterConfig/TagResource/UntagResource call of
eks.amazonaws.com; so is every events/watch/*/*.json (the watch rules'
samples of other services), which must not.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import sys

from cfnlint.decode import decode
from moto.events.models import EventPattern

FUNCTION = "GuardFunction"
EVENT = "EksEndpointChange"
API_CALLS = ("CreateCluster", "UpdateClusterConfig", "TagResource", "UntagResource")
# Rules with patterns of their own (scripts/check-watch-pattern.py).
WATCH_RULES = ("GuardWatch", "GuardWatchAlerts")


def load_patterns(template_path: str) -> list[tuple[str, dict]]:
    """(label, pattern) of every EKS event pattern of the template."""
    template, matches = decode(template_path)
    if matches:
        sys.exit(f"{template_path}: cannot parse: {matches}")
    found = []
    resources = template.get("Resources", {})
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            for event_name, event in properties.get("Events", {}).items():
                if event.get("Type") == "EventBridgeRule":
                    found.append((f"{name}.Events.{event_name}", event["Properties"]["Pattern"]))
        elif resource.get("Type") == "AWS::Events::Rule" and "EventPattern" in properties and name not in WATCH_RULES:
            found.append((name, properties["EventPattern"]))
    if template_path.endswith("template.yaml") and not any(
        label == f"{FUNCTION}.Events.{EVENT}" for label, _ in found
    ):
        sys.exit(f"{template_path}: no Resources.{FUNCTION}.Properties.Events.{EVENT}")
    if not found:
        sys.exit(f"{template_path}: no EventBridge pattern found")
    # decode() gives str/dict subclasses that remember their line numbers.
    return [(f"{template_path}: {label}", json.loads(json.dumps(p))) for label, p in found]


def envelope(event_name: str, **detail_overrides) -> dict:
    """A successful EKS call as EventBridge delivers it (trimmed)."""
    event = {
        "version": "0",
        "id": "11111111-2222-3333-4444-555555555555",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.eks",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
            "eventTime": "2026-01-01T00:00:00Z",
            "eventSource": "eks.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "203.0.113.10",
            "userAgent": "aws-cli/2",
            "requestParameters": {
                "name": "prod",
                "resourcesVpcConfig": {"endpointPublicAccess": True},
            },
            "responseElements": {},
            "eventType": "AwsApiCall",
            "managementEvent": True,
        },
    }
    event["detail"].update(detail_overrides)
    return event


def other_service(source: str, event_source: str, event_name: str) -> dict:
    event = envelope(event_name, eventSource=event_source)
    event["source"] = source
    return event


def failed(event_name: str) -> dict:
    return envelope(
        event_name,
        errorCode="InvalidParameterException",
        errorMessage="Only one type of update can be allowed.",
        responseElements=None,
    )


def builtin_cases() -> list[tuple[str, dict, bool]]:
    wrong_detail_type = envelope("UpdateClusterConfig")
    wrong_detail_type["detail-type"] = "AWS Service Event via CloudTrail"
    access_denied = failed("CreateCluster")
    access_denied["detail"]["errorCode"] = "AccessDenied"
    return [
        ("CreateCluster", envelope("CreateCluster"), True),
        ("UpdateClusterConfig", envelope("UpdateClusterConfig"), True),
        ("UpdateClusterConfig, responseElements null", envelope("UpdateClusterConfig", responseElements=None), True),
        ("DescribeCluster (read-only)", envelope("DescribeCluster"), False),
        ("ListClusters (read-only)", envelope("ListClusters"), False),
        ("DescribeUpdate (read-only)", envelope("DescribeUpdate"), False),
        ("UpdateClusterVersion (other EKS write)", envelope("UpdateClusterVersion"), False),
        ("CreateNodegroup (other EKS write)", envelope("CreateNodegroup"), False),
        ("DeleteCluster (other EKS write)", envelope("DeleteCluster"), False),
        ("TagResource", envelope("TagResource"), True),
        ("UntagResource", envelope("UntagResource"), True),
        ("AssociateEncryptionConfig (other EKS write)", envelope("AssociateEncryptionConfig"), False),
        ("failed TagResource", failed("TagResource"), False),
        ("SNS TagResource", other_service("aws.sns", "sns.amazonaws.com", "TagResource"), False),
        ("failed UpdateClusterConfig", failed("UpdateClusterConfig"), False),
        ("failed CreateCluster (AccessDenied)", access_denied, False),
        ("ECS CreateCluster", other_service("aws.ecs", "ecs.amazonaws.com", "CreateCluster"), False),
        ("Redshift CreateCluster", other_service("aws.redshift", "redshift.amazonaws.com", "CreateCluster"), False),
        ("aws.eks source, other eventSource", envelope("CreateCluster", eventSource="ecs.amazonaws.com"), False),
        ("AWS Service Event detail-type", wrong_detail_type, False),
    ]


def expected_for(event: dict) -> bool:
    """What the guard wants, written independently of the pattern."""
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    return (
        event.get("source") == "aws.eks"
        and event.get("detail-type") == "AWS API Call via CloudTrail"
        and detail.get("eventSource") == "eks.amazonaws.com"
        and detail.get("eventName") in API_CALLS
        and "errorCode" not in detail
    )


def file_cases(root: str) -> list[tuple[str, dict, bool]]:
    cases = []
    paths = glob.glob(os.path.join(root, "events", "*.json")) + glob.glob(os.path.join(root, "events", "watch", "*", "*.json"))
    for path in sorted(paths):
        try:
            with open(path, encoding="utf-8") as f:
                event = json.load(f)
        except (OSError, ValueError):
            continue  # deliberately malformed samples are the guard's business
        if not isinstance(event, dict) or "detail-type" not in event:
            continue  # not an EventBridge envelope
        cases.append((os.path.relpath(path, root), event, expected_for(event)))
    return cases


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    template_paths = sys.argv[1:] or [os.path.join(root, "template.yaml")]
    patterns = [found for path in template_paths for found in load_patterns(path)]

    cases = builtin_cases() + file_cases(root)
    # The built-in cases must also agree with the independent predicate.
    for name, event, want in cases:
        assert expected_for(event) == want, f"case table wrong for {name}"

    bad = 0
    first_label, first = patterns[0]
    for index, (label, raw) in enumerate(patterns):
        if raw != first:
            bad += 1
            print(f"BAD  {label} differs from {first_label}:\n  {json.dumps(raw)}\n  {json.dumps(first)}")
        pattern = EventPattern(None, raw)
        failed = 0
        for name, event, want in cases:
            got = pattern.matches_event(copy.deepcopy(event))
            ok = got == want
            failed += not ok
            # Every case of the first pattern; only failures of the others.
            if index == 0 or not ok:
                print(f"{'ok ' if ok else 'BAD'}  {'matches' if got else 'ignored'}  {name}")
        print(f"event-pattern: {label}: {len(cases) - failed} passed, {failed} failed")
        bad += failed
    print(f"event-pattern: {len(patterns)} pattern(s), {bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
