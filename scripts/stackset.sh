#!/usr/bin/env bash
# StackSets deployment of eks-endpoint-guard (docs/organizations.md). Needs the
# AWS CLI v2 and credentials of the organization's management account or of a
# CloudFormation delegated administrator (--call-as DELEGATED_ADMIN).
#
#   scripts/stackset.sh upload --code-prefix P --org-id o-... --regions "R..." \
#       --artefact target/lambda/eks-endpoint-guard/bootstrap.zip
#     For each region: deploy deploy/code-bucket.yaml as stack
#     eks-endpoint-guard-code (bucket P-<region>, readable by the organization
#     only), then copy the zip to s3://P-<region>/eks-endpoint-guard/bootstrap-<sha256>.zip.
#
#   scripts/stackset.sh deploy --name N --template T --regions "R..." --ous "ou-..." \
#       [--code-prefix P --artefact ZIP] [--capabilities C] [--call-as SELF|DELEGATED_ADMIN] \
#       [--admin-region R] [--max-concurrent-percent 25] [--failure-tolerance-percent 10] \
#       [--param Key=Value]...
#     Creates the SERVICE_MANAGED stack set N (automatic deployment on,
#     stacks deleted when an account leaves the OUs) or updates it (every
#     existing instance), waits for the operation, then creates the stack
#     instances for the OUs x regions (accounts and regions that already have
#     one are left as they are) and waits again. With --code-prefix, the
#     template's CodeBucketPrefix and CodeKey are set from the zip and the
#     object must already be in every region's bucket. A template over the
#     51,200 bytes of --template-body (build/stackset.yaml is) is copied to
#     the administration region's code bucket and passed by --template-url:
#     that needs --code-prefix and the administration region among --regions.
#
# Every AWS command is printed before it runs. DRY_RUN=1 prints them and runs
# none (the commands whose answer decides the next step are shown with the
# answer assumed).
set -euo pipefail
cd "$(dirname "$0")/.."

CODE_STACK=eks-endpoint-guard-code
CODE_KEY_PREFIX=eks-endpoint-guard/
# The StackSets API takes a template body of at most this many bytes.
TEMPLATE_BODY_LIMIT=51200
DRY_RUN=${DRY_RUN:-0}

die() {
    echo "stackset.sh: $*" >&2
    exit 1
}

# run CMD...: print it, then run it (not with DRY_RUN=1).
run() {
    printf '+' >&2
    printf ' %q' "$@" >&2
    printf '\n' >&2
    [[ "$DRY_RUN" == 1 ]] || "$@"
}

# words "a, b c": one word per line (commas and blanks both separate).
words() {
    tr ', ' '\n' <<<"$1" | sed '/^$/d'
}

need_aws() {
    [[ "$DRY_RUN" == 1 ]] && return 0
    command -v aws >/dev/null 2>&1 || die "the AWS CLI (v2) is needed: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
}

code_key() {
    local artefact=$1
    [[ -f "$artefact" ]] || die "no $artefact: run make build first"
    echo "${CODE_KEY_PREFIX}bootstrap-$(sha256sum "$artefact" | cut -c1-16).zip"
}

check_region() {
    [[ "$1" =~ ^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$ ]] || die "not a region name: $1"
}

upload() {
    local prefix="" org="" regions="" artefact=""
    while (($#)); do
        case "$1" in
        --code-prefix) prefix=$2 ;;
        --org-id) org=$2 ;;
        --regions) regions=$2 ;;
        --artefact) artefact=$2 ;;
        *) die "upload: unknown option $1" ;;
        esac
        shift 2
    done
    [[ -n "$prefix" ]] || die "upload: --code-prefix (make CODE_BUCKET_PREFIX=...) is required"
    [[ "$org" =~ ^o-[a-z0-9]{10,32}$ ]] || die "upload: --org-id (make ORG_ID=o-...) is required"
    [[ -n "$regions" ]] || die "upload: --regions (make REGIONS=\"...\") is required"
    local key region
    key=$(code_key "$artefact")
    need_aws
    echo "stackset.sh: code $artefact -> s3://$prefix-<region>/$key for: $(words "$regions" | tr '\n' ' ')" >&2
    for region in $(words "$regions"); do
        check_region "$region"
        run aws cloudformation deploy --region "$region" --stack-name "$CODE_STACK" \
            --template-file deploy/code-bucket.yaml \
            --parameter-overrides "CodeBucketPrefix=$prefix" "OrganizationId=$org" \
            --no-fail-on-empty-changeset
        run aws s3 cp --region "$region" --only-show-errors "$artefact" "s3://$prefix-$region/$key"
    done
    echo "stackset.sh: uploaded; CodeKey=$key" >&2
}

# wait_operation NAME OPERATION_ID: poll until the stack set operation ends.
wait_operation() {
    local name=$1 op=$2 status
    if [[ "$DRY_RUN" == 1 ]]; then
        echo "(then poll describe-stack-set-operation until SUCCEEDED)" >&2
        return 0
    fi
    echo "stackset.sh: waiting for operation $op of $name" >&2
    while :; do
        status=$(aws cloudformation describe-stack-set-operation "${AWS_ARGS[@]}" \
            --stack-set-name "$name" --operation-id "$op" \
            --query StackSetOperation.Status --output text)
        case "$status" in
        SUCCEEDED)
            echo "stackset.sh: operation $op SUCCEEDED" >&2
            return 0
            ;;
        FAILED | STOPPED)
            echo "stackset.sh: operation $op $status; the instances that failed:" >&2
            aws cloudformation list-stack-set-operation-results "${AWS_ARGS[@]}" \
                --stack-set-name "$name" --operation-id "$op" \
                --query "Summaries[?Status!='SUCCEEDED'].[Account,Region,Status,StatusReason]" \
                --output text >&2 || true
            return 1
            ;;
        *)
            echo "stackset.sh:   $status" >&2
            sleep 15
            ;;
        esac
    done
}

deploy() {
    local name="" template="" regions="" ous="" prefix="" artefact="" capabilities=CAPABILITY_IAM
    local call_as=SELF admin_region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}} max_pct=25 fail_pct=10
    local -a params=()
    while (($#)); do
        case "$1" in
        --name) name=$2 ;;
        --template) template=$2 ;;
        --regions) regions=$2 ;;
        --ous) ous=$2 ;;
        --code-prefix) prefix=$2 ;;
        --artefact) artefact=$2 ;;
        --capabilities) capabilities=$2 ;;
        --call-as) call_as=$2 ;;
        --admin-region) [[ -z "$2" ]] || admin_region=$2 ;;
        --max-concurrent-percent) max_pct=$2 ;;
        --failure-tolerance-percent) fail_pct=$2 ;;
        --param) [[ -z "$2" ]] || params+=("$2") ;;
        *) die "deploy: unknown option $1" ;;
        esac
        shift 2
    done
    [[ -n "$name" ]] || die "deploy: --name is required"
    [[ -f "$template" ]] || die "deploy: no template $template"
    [[ -n "$regions" ]] || die "deploy: --regions (make REGIONS=\"...\") is required"
    [[ -n "$ous" ]] || die "deploy: --ous (make OUS=\"ou-... ou-...\", or the root r-...) is required"
    [[ "$call_as" == SELF || "$call_as" == DELEGATED_ADMIN ]] || die "deploy: --call-as is SELF or DELEGATED_ADMIN"
    [[ "$max_pct" =~ ^[0-9]+$ && "$max_pct" -ge 1 && "$max_pct" -le 100 ]] || die "deploy: --max-concurrent-percent is 1..100"
    [[ "$fail_pct" =~ ^[0-9]+$ && "$fail_pct" -le 100 ]] || die "deploy: --failure-tolerance-percent is 0..100"
    local region ou
    for region in $(words "$regions"); do check_region "$region"; done
    for ou in $(words "$ous"); do
        [[ "$ou" =~ ^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$ ]] || die "not an OU or root id: $ou"
    done
    [[ -n "$admin_region" ]] || admin_region=$(words "$regions" | head -n1)
    check_region "$admin_region"

    # A template over the --template-body limit goes to the code bucket of
    # the administration region (readable by the organization, the caller
    # included) and is passed by URL; StackSets takes up to 1 MB that way.
    local size
    local -a template_arg
    size=$(wc -c <"$template")
    template_arg=(--template-body "file://$template")
    if ((size > TEMPLATE_BODY_LIMIT)); then
        [[ -n "$prefix" ]] ||
            die "$template is $size bytes; --template-body takes at most $TEMPLATE_BODY_LIMIT, and without --code-prefix there is no bucket to pass it through"
        [[ " $(words "$regions" | tr '\n' ' ') " == *" $admin_region "* ]] ||
            die "$template is $size bytes (over $TEMPLATE_BODY_LIMIT): it goes through s3://$prefix-$admin_region, so the administration region $admin_region must be one of --regions"
        local template_key domain=amazonaws.com
        template_key="${CODE_KEY_PREFIX}stackset-$(sha256sum "$template" | cut -c1-16).yaml"
        [[ "$admin_region" != cn-* ]] || domain=amazonaws.com.cn
        need_aws
        run aws s3 cp --region "$admin_region" --only-show-errors "$template" "s3://$prefix-$admin_region/$template_key"
        template_arg=(--template-url "https://$prefix-$admin_region.s3.$admin_region.$domain/$template_key")
    fi

    # Parameters go through a JSON file: values may hold commas
    # (AllowedPublicCidrs, SweepAccounts), which the CLI's shorthand splits.
    if [[ -n "$prefix" ]]; then
        local key
        key=$(code_key "$artefact")
        params+=("CodeBucketPrefix=$prefix" "CodeKey=$key")
        need_aws
        for region in $(words "$regions"); do
            run aws s3api head-object --region "$region" --bucket "$prefix-$region" --key "$key" --query ContentLength --output text >/dev/null ||
                die "s3://$prefix-$region/$key is missing: run make stackset-upload with the same REGIONS first"
        done
    fi
    mkdir -p build
    local params_file=build/$name-parameters.json
    python3 - "$params_file" "$template" "${params[@]}" <<'EOF'
import json, re, sys
out, template, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
declared = set()
in_parameters = False
for line in open(template, encoding="utf-8"):
    # Top-level "Parameters:" block, its two-space-indented keys.
    if re.match(r"^\S", line):
        in_parameters = line.startswith("Parameters:")
    elif in_parameters:
        m = re.match(r"^  ([A-Za-z0-9]+):", line)
        if m:
            declared.add(m.group(1))
params = []
for pair in pairs:
    key, sep, value = pair.partition("=")
    if not sep or not key:
        sys.exit(f"stackset.sh: a parameter is Key=Value, not {pair!r}")
    if key not in declared:
        sys.exit(f"stackset.sh: {template} has no parameter {key} (it has: {', '.join(sorted(declared))})")
    params.append({"ParameterKey": key, "ParameterValue": value})
with open(out, "w", encoding="utf-8") as f:
    json.dump(params, f, indent=2)
    f.write("\n")
EOF

    AWS_ARGS=(--region "$admin_region" --call-as "$call_as")
    local prefs="RegionConcurrencyType=PARALLEL,MaxConcurrentPercentage=$max_pct,FailureTolerancePercentage=$fail_pct,ConcurrencyMode=SOFT_FAILURE_TOLERANCE"
    local auto="Enabled=true,RetainStacksOnAccountRemoval=false"
    local ou_list region_list
    ou_list=$(words "$ous" | paste -sd, -)
    region_list=$(words "$regions" | tr '\n' ' ')

    cat >&2 <<EOF
stackset.sh: stack set $name (SERVICE_MANAGED, administered from $admin_region, --call-as $call_as)
  template:    $template ($size bytes: ${template_arg[0]}), capabilities $capabilities
  parameters:  $params_file
$(sed 's/^/    /' "$params_file")
  targets:     OUs $ou_list x regions $region_list
  automatic deployment: $auto
  operations:  $prefs
EOF
    need_aws

    local exists=0 err
    printf '+ aws cloudformation describe-stack-set --stack-set-name %q %s\n' "$name" "${AWS_ARGS[*]}" >&2
    if [[ "$DRY_RUN" == 1 ]]; then
        echo "(DRY_RUN: if the stack set exists, update-stack-set; else create-stack-set. Both are shown.)" >&2
    elif err=$(aws cloudformation describe-stack-set "${AWS_ARGS[@]}" --stack-set-name "$name" 2>&1 >/dev/null); then
        exists=1
    elif [[ "$err" != *StackSetNotFoundException* ]]; then
        die "describe-stack-set failed: $err"
    fi

    local op
    if [[ "$DRY_RUN" == 1 || "$exists" == 1 ]]; then
        op=$(run aws cloudformation update-stack-set "${AWS_ARGS[@]}" --stack-set-name "$name" \
            "${template_arg[@]}" --parameters "file://$params_file" \
            --capabilities "$capabilities" --auto-deployment "$auto" \
            --managed-execution Active=true \
            --operation-preferences "$prefs" \
            --query OperationId --output text)
        wait_operation "$name" "$op"
    fi
    if [[ "$DRY_RUN" == 1 || "$exists" == 0 ]]; then
        run aws cloudformation create-stack-set "${AWS_ARGS[@]}" --stack-set-name "$name" \
            --description "eks-endpoint-guard ($(basename "$template"))" \
            "${template_arg[@]}" --parameters "file://$params_file" \
            --capabilities "$capabilities" --permission-model SERVICE_MANAGED \
            --auto-deployment "$auto" --managed-execution Active=true >/dev/null
    fi
    # shellcheck disable=SC2046 # one argument per region
    op=$(run aws cloudformation create-stack-instances "${AWS_ARGS[@]}" --stack-set-name "$name" \
        --deployment-targets "OrganizationalUnitIds=$ou_list" \
        --regions $(words "$regions") \
        --operation-preferences "$prefs" \
        --query OperationId --output text)
    wait_operation "$name" "$op"
    if [[ "$DRY_RUN" == 1 ]]; then
        echo "stackset.sh: DRY_RUN: nothing was changed" >&2
    else
        echo "stackset.sh: $name deployed to OUs $ou_list in $region_list" >&2
    fi
}

cmd=${1:-}
shift || true
case "$cmd" in
upload) upload "$@" ;;
deploy) deploy "$@" ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
