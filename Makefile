# eks-endpoint-guard: build, test and try it locally; deploy it with SAM.
#
# Python tools live in project-local virtualenvs made by scripts/venv.sh
# (.venv: moto[server], cfn-lint, aws-sam-cli, cargo-lambda, ziglang;
# .venv-checkov: checkov). Nothing is installed globally except, for
# check-artefact, Debian's qemu-user-static and libc6-arm64-cross.
#
# Prerequisites (README "Prerequisites"): make, gcc (+ libc6-dev), python3
# with python3-venv, and rustup with the toolchain rust-toolchain.toml pins.
# Each target checks what it needs first (scripts/need.sh, scripts/venv.sh,
# scripts/check-artefact.sh) and says what is missing and how to get it.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV_BIN    := $(CURDIR)/.venv/bin
CHECKOV_BIN := $(CURDIR)/.venv-checkov/bin
ARM64       := aarch64-unknown-linux-gnu
BIN         := eks-endpoint-guard
# cargo-lambda writes under CARGO_TARGET_DIR when that is set.
TARGET_DIR  := $(or $(CARGO_TARGET_DIR),target)
ARTEFACT    := $(TARGET_DIR)/lambda/$(BIN)/bootstrap.zip
TEMPLATE    := template.yaml
# The plain CloudFormation form of TEMPLATE for service-managed StackSets
# (which reject a Transform); generated, not committed.
STACKSET_TEMPLATE := build/stackset.yaml
MEMBER_TEMPLATE   := deploy/member.yaml
CODE_BUCKET_TEMPLATE := deploy/code-bucket.yaml

# StackSets and the central layout (docs/organizations.md). Blank-separated
# lists; PARAMS and MEMBER_PARAMS are Key=Value words for the stack set's
# template (a value may hold commas, not blanks).
REGIONS ?=
OUS ?=
ORG_ID ?=
CODE_BUCKET_PREFIX ?=
CALL_AS ?= SELF
STACKSET_ADMIN_REGION ?=
STACKSET_NAME ?= eks-endpoint-guard
MEMBER_STACKSET_NAME ?= eks-endpoint-guard-member
MAX_CONCURRENT_PERCENT ?= 25
FAILURE_TOLERANCE_PERCENT ?= 10
PARAMS ?=
MEMBER_PARAMS ?=

# The venv first: its cargo-lambda, sam, cfn-lint, and its python3, through
# which cargo-lambda runs zig (the ziglang package has no `zig` on PATH).
TOOLS_PATH := $(VENV_BIN):$(PATH)

# The tests, the demo and the invoke tool start this moto_server.
export MOTO_SERVER := $(VENV_BIN)/moto_server
# SAM CLI: no telemetry (and no network call for it).
export SAM_CLI_TELEMETRY := 0

NEED := @scripts/need.sh

# $(call phase,TARGET): run `make TARGET` and print how long it took.
define phase
	@t0=$$(date +%s); echo "==> make $(1)"; \
	$(MAKE) --no-print-directory $(1); \
	echo "<== make $(1): $$(( $$(date +%s) - t0 )) s"
endef

.PHONY: fuzz help venv moto-venv checkov-venv rust-target build check-artefact lint lint-rust \
	lint-template checkov test test-rust bench demo invoke deploy clean distclean \
	stackset-template stackset-upload stackset-deploy member-stackset-deploy

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 24

venv: ## make/refresh .venv (moto, cfn-lint, sam, cargo-lambda, zig)
	@scripts/venv.sh

# Only moto and flask (requirements-moto.txt), into the same .venv: what the
# demo, invoke, bench and the Rust tests need. Nothing when venv is done.
moto-venv:
	@scripts/venv.sh moto

checkov-venv:
	@scripts/venv.sh checkov

rust-target:
	$(NEED) arm64

build: venv rust-target ## arm64 Lambda zip: target/lambda/eks-endpoint-guard/bootstrap.zip
	$(NEED) cc
	PATH="$(TOOLS_PATH)" cargo-lambda lambda build --release --arm64 --output-format zip --bin $(BIN)
	@ls -l $(ARTEFACT)

check-artefact: ## the zip holds an aarch64 bootstrap <= 5 MiB that polls a Runtime API under qemu
	@scripts/check-artefact.sh $(ARTEFACT)

lint: lint-rust lint-template ## fmt, clippy; cfn-lint, sam validate --lint, event patterns, watch rules and heartbeat, checkov on every template

# The second clippy sees the library as the Lambda binary gets it: without
# the test-util feature that the tests' dev-dependency turns on.
lint-rust:
	$(NEED) lint cc
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --bin $(BIN) -- -D warnings

lint-template: venv checkov-venv stackset-template
	$(VENV_BIN)/cfn-lint $(TEMPLATE) $(STACKSET_TEMPLATE) $(MEMBER_TEMPLATE) $(CODE_BUCKET_TEMPLATE)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(VENV_BIN)/sam validate --lint --template-file $(TEMPLATE)
	$(VENV_BIN)/python scripts/check-event-pattern.py $(TEMPLATE) $(MEMBER_TEMPLATE) $(STACKSET_TEMPLATE)
	$(VENV_BIN)/python scripts/check-watch-pattern.py $(TEMPLATE) $(STACKSET_TEMPLATE)
	$(MAKE) --no-print-directory checkov
	@if command -v shellcheck >/dev/null; then echo "shellcheck scripts/stackset.sh"; shellcheck scripts/stackset.sh; \
	else echo "shellcheck not installed: scripts/stackset.sh not checked"; fi

checkov: checkov-venv stackset-template ## checkov on the templates (skips are explained in them)
	$(CHECKOV_BIN)/checkov --file $(TEMPLATE) --file $(STACKSET_TEMPLATE) --file $(MEMBER_TEMPLATE) \
		--file $(CODE_BUCKET_TEMPLATE) --framework cloudformation --skip-download --compact --quiet

test: ## the test command: lint, Rust tests (moto), arm64 build, artefact check
	$(call phase,lint)
	$(call phase,test-rust)
	$(call phase,build)
	$(call phase,check-artefact)

test-rust: moto-venv
	$(NEED) rust cc
	cargo test

# The examples run the guard binary next to them (target/<profile>/). One
# cargo invocation builds both with one feature set: `cargo build --release`
# then `cargo run --release --example X` compiled most crates twice, because
# the example's dev-dependencies (tokio's rt-multi-thread, process, ...)
# unify features differently from the binary's alone.
#
# The demo and invoke use the dev profile: they show behaviour, not speed, and
# it is the profile `cargo test` builds, with the same features (examples
# and tests both take the dev-dependencies), so `make demo` after `make test`,
# or the other way round, compiles almost nothing. From scratch it takes 2 min
# on 2 nearly idle cores (3 to 4.5 min with other builds running); the release
# profile (fat LTO, codegen-units=1, opt-level s) took 3 min 40 s for the
# binary alone. bench measures what is shipped: the release profile.
DEV_BIN := $(TARGET_DIR)/debug

# examples-EXAMPLE: the guard binary and examples/EXAMPLE.rs in one cargo
# invocation (bench: release; the others: dev). The targets below run it
# next to `moto-venv` (make -j2): pip mostly waits on downloads, so the
# virtualenv costs almost nothing on top of the build. MAKEFLAGS is cleared
# so that cargo uses both cores instead of the jobserver's one spare slot.
examples-%:
	$(NEED) rust cc
	MAKEFLAGS= cargo build $(if $(filter bench%,$*),--release )--bin $(BIN) --example $*

bench: ## cold start, time per event, peak RSS of the release binary; the organization-size sweep
	@$(MAKE) --no-print-directory -j2 moto-venv examples-bench
	MAKEFLAGS= cargo build --release --example bench_organization
	$(TARGET_DIR)/release/examples/bench
	$(TARGET_DIR)/release/examples/bench_organization

demo: ## the guard reverting a public cluster on an emulated AWS
	@$(MAKE) --no-print-directory -j2 moto-venv examples-demo
	$(DEV_BIN)/examples/demo

invoke: ## make invoke EVENT=events/<file>.json: one event through the local binary
	@[[ -n "$(EVENT)" ]] || { echo "usage: make invoke EVENT=events/<file>.json" >&2; exit 2; }
	@[[ -f "$(EVENT)" ]] || { echo "no such file: $(EVENT)" >&2; exit 2; }
	@$(MAKE) --no-print-directory -j2 moto-venv examples-invoke
	$(DEV_BIN)/examples/invoke $(EVENT)

FUZZ_SECONDS ?= 600
fuzz: ## libFuzzer on the decision path for FUZZ_SECONDS (default 600), seeded from events/
	$(NEED) rust cc
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	mkdir -p fuzz/corpus/decision_path
	cp events/*.json fuzz/corpus/decision_path/
	# No LTO (it breaks libFuzzer's coverage symbols); its own target dir so
	# the instrumented build never evicts the normal one. RUSTC_BOOTSTRAP lets
	# cargo fuzz use its -Z flags on the stable toolchain.
	CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 RUSTC_BOOTSTRAP=1 \
		cargo fuzz run decision_path --target-dir target/fuzz -s none \
		fuzz/corpus/decision_path -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536

deploy: venv rust-target ## sam build && sam deploy --guided (needs AWS credentials)
	$(NEED) cc
	PATH="$(TOOLS_PATH)" sam build --template-file $(TEMPLATE)
	PATH="$(TOOLS_PATH)" sam deploy --guided

# ------------------------------------------------- AWS Organizations layouts
# The deploy targets need AWS credentials (management account or delegated
# administrator); each prints every AWS command before running it, and
# DRY_RUN=1 prints them without running any. See docs/organizations.md.

stackset-template: venv ## build/stackset.yaml: template.yaml as plain CloudFormation (SAM translator), code from S3
	$(VENV_BIN)/python scripts/stackset-template.py $(TEMPLATE) $(STACKSET_TEMPLATE)

stackset-upload: ## code bucket per region (REGIONS, CODE_BUCKET_PREFIX, ORG_ID) and bootstrap.zip into each
	scripts/stackset.sh upload --code-prefix "$(CODE_BUCKET_PREFIX)" --org-id "$(ORG_ID)" \
		--regions "$(REGIONS)" --artefact $(ARTEFACT)

stackset-deploy: stackset-template ## create/update the SERVICE_MANAGED stack set over OUS x REGIONS (PARAMS=Key=Value...)
	scripts/stackset.sh deploy --name $(STACKSET_NAME) --template $(STACKSET_TEMPLATE) \
		--capabilities CAPABILITY_IAM --regions "$(REGIONS)" --ous "$(OUS)" \
		--code-prefix "$(CODE_BUCKET_PREFIX)" --artefact $(ARTEFACT) \
		--call-as $(CALL_AS) --admin-region "$(STACKSET_ADMIN_REGION)" \
		--max-concurrent-percent $(MAX_CONCURRENT_PERCENT) --failure-tolerance-percent $(FAILURE_TOLERANCE_PERCENT) \
		$(foreach p,$(PARAMS),--param '$(p)')

# The remediation role (IAM is global) is made by the instance in this region.
comma := ,
MEMBER_ROLE_REGION = $(or $(patsubst RemediationRoleRegion=%,%,$(filter RemediationRoleRegion=%,$(MEMBER_PARAMS))),us-east-1)

member-stackset-deploy: ## central layout: deploy/member.yaml as a stack set over OUS x REGIONS (ORG_ID, MEMBER_PARAMS)
	@[[ " $(subst $(comma), ,$(REGIONS)) " == *" $(MEMBER_ROLE_REGION) "* ]] || { \
		echo "RemediationRoleRegion $(MEMBER_ROLE_REGION) is not in REGIONS: no member account would get the remediation role" \
		"(add it to REGIONS or set MEMBER_PARAMS=\"... RemediationRoleRegion=<one of REGIONS>\")" >&2; exit 1; }
	scripts/stackset.sh deploy --name $(MEMBER_STACKSET_NAME) --template $(MEMBER_TEMPLATE) \
		--capabilities CAPABILITY_NAMED_IAM --regions "$(REGIONS)" --ous "$(OUS)" \
		--call-as $(CALL_AS) --admin-region "$(STACKSET_ADMIN_REGION)" \
		--max-concurrent-percent $(MAX_CONCURRENT_PERCENT) --failure-tolerance-percent $(FAILURE_TOLERANCE_PERCENT) \
		--param 'OrganizationId=$(ORG_ID)' $(foreach p,$(MEMBER_PARAMS),--param '$(p)')

clean: ## remove build output (target/, .aws-sam/, build/)
	$(NEED) rust
	cargo clean
	rm -rf .aws-sam build

distclean: clean ## also remove the virtualenvs
	rm -rf .venv .venv-checkov .venv.lock .venv-checkov.lock
