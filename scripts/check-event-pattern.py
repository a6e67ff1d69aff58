#!/usr/bin/env python3
"""Checks the EventBridge pattern of template.yaml against sample events.

The pattern must match successful CreateCluster, UpdateClusterConfig,
TagResource and UntagResource calls of eks.amazonaws.com (the last two for the
exempt tag; the guard itself ignores other tags) and nothing else: not
read-only EKS calls, not other EKS writes, not failed calls (they carry
errorCode), not other services' calls of the same name (ECS, Redshift,
CloudHSM... have a CreateCluster too, and every service a TagResource).

EventBridge's TestEventPattern API needs an AWS account and moto does not
implement it, so the pattern is evaluated with moto's own matcher
(moto.events.models.EventPattern). Run with the project virtualenv:

    .venv/bin/python scripts/check-event-pattern.py [template.yaml]

Besides the built-in cases, every events/*.json that is an EventBridge
envelope is evaluated too, and must match exactly when it is a successful
CreateCluster/UpdateClusterConfig call of eks.amazonaws.com.
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


def load_pattern(template_path: str) -> dict:
    template, matches = decode(template_path)
    if matches:
        sys.exit(f"{template_path}: cannot parse: {matches}")
    try:
        event = template["Resources"][FUNCTION]["Properties"]["Events"][EVENT]
    except KeyError:
        sys.exit(f"{template_path}: no Resources.{FUNCTION}.Properties.Events.{EVENT}")
    # decode() gives str/dict subclasses that remember their line numbers.
    return json.loads(json.dumps(event["Properties"]["Pattern"]))


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
    for path in sorted(glob.glob(os.path.join(root, "events", "*.json"))):
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
    template_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "template.yaml")
    pattern = EventPattern(None, load_pattern(template_path))

    cases = builtin_cases() + file_cases(root)
    # The built-in cases must also agree with the independent predicate.
    for name, event, want in cases:
        assert expected_for(event) == want, f"case table wrong for {name}"

    bad = 0
    for name, event, want in cases:
        got = pattern.matches_event(copy.deepcopy(event))
        ok = got == want
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'}  {'matches' if got else 'ignored'}  {name}")
    print(f"event-pattern: {len(cases) - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
