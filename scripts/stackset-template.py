#!/usr/bin/env python3
"""Generates the plain CloudFormation template of the StackSets layout.

Service-managed stack sets reject templates that declare a Transform
(aws-cloudformation/cloudformation-coverage-roadmap#839), and template.yaml
is a SAM template (Transform: AWS::Serverless-2016-10-31). This script runs
the SAM translator (the samtranslator package that aws-sam-cli brings into
.venv) offline over template.yaml and writes the plain template that
CloudFormation would have expanded it to, with two changes:

- the function's code comes from S3 through two new parameters instead of
  `CodeUri: .` (which only `sam build`/`sam deploy` understand):
  bucket `${CodeBucketPrefix}-${AWS::Region}` (Lambda reads the code from a
  bucket of the function's own region, so there is one bucket per target
  region, made by deploy/code-bucket.yaml) and key `CodeKey`;
- the `sam build` metadata (BuildMethod, BuildProperties) is dropped.

Everything else (parameters, rules, conditions, outputs, checkov skips)
comes through unchanged, so the stack set takes the same parameters as a
`sam deploy` of template.yaml. Run it with the project virtualenv:

    .venv/bin/python scripts/stackset-template.py [template.yaml [build/stackset.yaml]]

(`make stackset-template`; `make lint` regenerates and lints the result.)
No AWS call is made: the translator needs a region name only for ARNs it
builds itself, and there are none here (checked below: no literal region or
partition may appear in the output).
"""

from __future__ import annotations

import copy
import json
import os
import sys

from boto3.session import Session
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse
from samcli.yamlhelper import yaml_dump

FUNCTION = "GuardFunction"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# The StackSets API takes a template body of at most 51,200 bytes; a larger
# one goes through the code bucket (--template-url, scripts/stackset.sh).
TEMPLATE_BODY_LIMIT = 51_200

CODE_PARAMETERS = {
    "CodeBucketPrefix": {
        "Description": (
            "The code bucket of each region is <CodeBucketPrefix>-<region> "
            "(deploy/code-bucket.yaml, made and filled by make stackset-upload); "
            "Lambda reads a function's code from a bucket of its own region."
        ),
        "Type": "String",
        # A bucket name is at most 63 characters; the longest region name
        # plus the dash takes 16 of them.
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,45}[a-z0-9]$",
        "ConstraintDescription": "lower-case letters, digits, dots and dashes; at most 47 characters",
    },
    "CodeKey": {
        "Description": (
            "Key of bootstrap.zip in the code buckets (make stackset-upload "
            "names it after the zip's SHA-256, so new code means a new key and "
            "CloudFormation updates the function)."
        ),
        "Type": "String",
        "AllowedPattern": "^[A-Za-z0-9!_.*'()/-]+\\.zip$",
        "ConstraintDescription": "an S3 key ending in .zip",
    },
}


def prepare(sam: dict) -> dict:
    """template.yaml, with the code in S3 and the code parameters added."""
    sam = copy.deepcopy(sam)
    if sam.get("Transform") != SAM_TRANSFORM:
        sys.exit(f"expected Transform: {SAM_TRANSFORM}, found {sam.get('Transform')!r}")
    parameters = sam.setdefault("Parameters", {})
    for name, definition in CODE_PARAMETERS.items():
        if name in parameters:
            sys.exit(f"template.yaml already has a parameter {name}")
        parameters[name] = definition

    function = sam["Resources"][FUNCTION]
    function["Properties"]["CodeUri"] = {
        "Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"},
        "Key": {"Ref": "CodeKey"},
    }
    metadata = function.get("Metadata", {})
    for key in ("BuildMethod", "BuildProperties"):
        metadata.pop(key, None)

    interface = sam.setdefault("Metadata", {}).setdefault("AWS::CloudFormation::Interface", {})
    interface.setdefault("ParameterGroups", []).append(
        {"Label": {"default": "Code (StackSets)"}, "Parameters": list(CODE_PARAMETERS)}
    )
    return sam


def translate(sam: dict) -> dict:
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        # Offline: no credentials are used; the region only names the
        # partition for ARNs the translator would build itself.
        boto_session=Session(region_name="us-east-1"),
    )
    # The template references no managed policy by name, so the policy map
    # (which would call IAM) is never needed.
    return translator.translate(sam_template=sam, parameter_values={}, get_managed_policy_map=lambda: {})


def check(plain: dict) -> None:
    problems = []
    if "Transform" in plain:
        problems.append("the output still declares a Transform")
    serverless = [n for n, r in plain["Resources"].items() if r.get("Type", "").startswith("AWS::Serverless::")]
    if serverless:
        problems.append(f"untranslated serverless resources: {serverless}")
    text = json.dumps(plain)
    # A region or partition resolved at translation time would be wrong in
    # every other region of the stack set.
    for literal in ("us-east-1", "arn:aws:"):
        if literal in text:
            problems.append(f"the output contains the literal {literal!r}")
    code = plain["Resources"][FUNCTION]["Properties"].get("Code", {})
    if code.get("S3Key") != {"Ref": "CodeKey"}:
        problems.append(f"unexpected function code: {code}")
    if problems:
        sys.exit("stackset-template: " + "; ".join(problems))


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "template.yaml")
    target = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "build", "stackset.yaml")
    with open(source, encoding="utf-8") as f:
        sam = yaml_parse(f.read())

    plain = translate(prepare(sam))
    plain.setdefault("Metadata", {})["GeneratedBy"] = (
        f"scripts/stackset-template.py from {os.path.basename(source)} "
        "(SAM translator); do not edit, run make stackset-template"
    )
    check(plain)

    body = (
        f"# Generated from {os.path.basename(source)} by scripts/stackset-template.py "
        "(make stackset-template). Do not edit.\n" + yaml_dump(plain)
    )
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target, "w", encoding="utf-8") as f:
        f.write(body)
    size = len(body.encode())
    note = (
        ""
        if size <= TEMPLATE_BODY_LIMIT
        else f" (over the {TEMPLATE_BODY_LIMIT}-byte --template-body limit: stackset.sh passes it by --template-url)"
    )
    print(f"stackset-template: {target}: {len(plain['Resources'])} resources, {size} bytes{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
