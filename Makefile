# Every target sets itself up (venv, pip, npm) idempotently: a fresh clone needs only python3 and node/npm.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
# jsii (under the CDK) prints an end-of-life banner on every start under Node 20; it is noise.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.DEFAULT_GOAL := help
.PHONY: help venv checkov-venv model train serve test lint bench events invoke-local

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

# checkov scans the synthesized templates in `make test`; its many pins get a virtualenv of
# their own so they never decide the project's.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(VENV_STAMP): requirements.txt requirements-dev.txt $(wildcard handler/requirements/*.txt)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV_STAMP) ## Create .venv and install every pinned requirement

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

checkov-venv: $(CHECKOV_STAMP) ## Create .venv-checkov with the pinned checkov (make test needs it)

model: $(VENV_STAMP) ## Train the declared models (models.toml) that have no artifacts yet (they are committed)
	@$(PY) -m model.catalog ensure

train: $(VENV_STAMP) ## Retrain every model in models.toml, or MODEL=<name>, and rewrite its artifacts (commit them)
	$(PY) -m model.catalog train $(MODEL)

serve: model ## Serve the Cloud Functions adapter on $(HOST):$(PORT) with functions-framework
	$(VENV)/bin/functions-framework --source main.py --target predict --host $(HOST) --port $(PORT)

test: model $(CHECKOV_STAMP) ## The quality gate CI runs: workflow lint, ruff, mypy on handler/ ops/ model/, the whole suite (checkov included), then fork-check
	@$(MAKE) --no-print-directory lint-workflows
	$(VENV)/bin/ruff check --quiet .
	$(VENV)/bin/ruff format --check --quiet .
	$(VENV)/bin/mypy handler ops model
	$(PY) -m pytest

# The snapshot tests hold the templates this repository's cdk.json, Pulumi.<stack>.yaml and
# models.toml give; nothing else in the suite depends on those values (docs/fork.md).
SNAPSHOT_TESTS := tests/aws/test_aws_snapshot.py tests/gcp/test_gcp_snapshot.py
.PHONY: snapshots fork-check

snapshots: model ## Take the current AWS and GCP templates as the snapshots; then review them: git diff tests/
	$(PY) -m pytest -q -p no:cacheprovider $(SNAPSHOT_TESTS) --snapshot-update

fork-check: model ## Make a representative fork in a temporary copy and check it stays green (make test runs it)
	$(PY) scripts/check_fork.py

invoke-local: model ## Run the Lambda adapter on a generated HTTP API event (BODY=..., or EVENT=file)
	$(PY) scripts/invoke_local.py $(if $(EVENT),--event $(EVENT)) $(if $(BODY),--body '$(BODY)')

events: $(VENV_STAMP) ## Regenerate tests/events/ with sam local generate-event
	$(PY) scripts/generate_events.py

bench: model ## Cold init, warm latency and image size: this handler vs a naive one
	$(PY) bench/run.py $(ARGS)

lint: $(VENV_STAMP) ## ruff, and mypy on everything (slow the first time: the CDK's type stubs)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy handler ops model stacks app.py costing cost_analysis.py

# --- AWS (CDK): `make deploy-aws ENV=prod` -----------------------------------------------------
# ENV is also a POSIX shell variable (the sh startup file), so only a command-line ENV=... counts.
ifneq ($(origin ENV),command line)
ENV := dev
endif
NPM_STAMP := node_modules/.installed
# --no-install: never fetch an unpinned CLI (npm's `latest` aws-cdk cannot read these assemblies).
CDK := npx --no-install cdk
CDK_FLAGS := --no-notices -c env=$(ENV)
.PHONY: npm synth diff checkov preflight-aws deploy-aws destroy-aws
# PREFLIGHT=0 skips the pre-deploy check (e.g. a CI role without the read permissions it needs).
PREFLIGHT ?= 1

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

npm: $(NPM_STAMP) ## Install the pinned AWS CDK CLI from package-lock.json

synth: $(VENV_STAMP) $(NPM_STAMP) ## Synthesize the AWS stack for ENV (dev|prod) into cdk.out/, offline
	$(CDK) synth $(CDK_FLAGS) --quiet
	@$(PY) scripts/cdk_templates.py list

diff: model $(NPM_STAMP) ## Show what deploy-aws would change in ENV's deployed stack
	$(CDK) diff $(CDK_FLAGS)

checkov: $(CHECKOV_STAMP) synth ## Scan ENV's synthesized templates with checkov; fails if it parsed nothing (make test scans dev and prod)
	$(PY) scripts/cdk_templates.py checkov $(CHECKOV_VENV)/bin/checkov

preflight-aws: $(VENV_STAMP) ## Check the account can take ENV's stack: credentials, bootstrap, Lambda concurrency quota
	$(PY) -m ops.preflight --env $(ENV)

deploy-aws: model $(NPM_STAMP) ## Build the image and deploy ENV's stack (credentials, Docker, cdk bootstrap)
	@if [ "$(PREFLIGHT)" != 0 ]; then $(MAKE) --no-print-directory preflight-aws ENV=$(ENV); fi
	$(CDK) deploy $(CDK_FLAGS) --outputs-file cdk.out/outputs-$(ENV).json

destroy-aws: $(VENV_STAMP) $(NPM_STAMP) ## Delete ENV's stack (asks first)
	$(CDK) destroy $(CDK_FLAGS)

# --- GCP: Pulumi program in pulumi_gcp/ (README, "Deploy to GCP") -------------------------------
# STACK is the Pulumi stack; ENV=prod selects the same environment as on AWS.
STACK ?= $(ENV)
PULUMI ?= pulumi
PULUMI_FLAGS ?=
.PHONY: preview-gcp deploy-gcp destroy-gcp pulumi-cli

pulumi-cli:
	@command -v $(PULUMI) >/dev/null 2>&1 || { \
	  echo "error: the Pulumi CLI ('$(PULUMI)') is not installed or not on PATH." >&2; \
	  echo "Install it (https://www.pulumi.com/docs/install/), run 'pulumi login', then retry." >&2; \
	  exit 1; }

# --refresh: picks up drift, e.g. a source bundle the bucket's lifecycle rule has deleted.
preview-gcp: pulumi-cli model ## Preview the Cloud Function stack (ENV=dev|prod, or STACK=<pulumi stack>)
	cd pulumi_gcp && $(PULUMI) preview --stack $(STACK) --refresh --diff $(PULUMI_FLAGS)

deploy-gcp: pulumi-cli model ## Deploy the Cloud Function stack with pulumi up (ENV=dev|prod, or STACK=<pulumi stack>)
	cd pulumi_gcp && $(PULUMI) up --stack $(STACK) --refresh $(PULUMI_FLAGS)

destroy-gcp: pulumi-cli $(VENV_STAMP) ## Tear down the Cloud Function stack (ENV=dev|prod, or STACK=<pulumi stack>)
	cd pulumi_gcp && $(PULUMI) destroy --stack $(STACK) $(PULUMI_FLAGS)

# README, "Releasing on Google Cloud". pulumi-cli first: a missing CLI stops before anything else.
.PHONY: release-gcp rollback-gcp
RELEASE_GCP = $(PY) pulumi_gcp/release.py
# MODEL=<name>: one model of a stack serving several (models.toml); DRY_RUN=1: print the plan.
RELEASE_FLAGS = --stack $(STACK) --pulumi $(PULUMI) $(if $(PULUMI_FLAGS),--pulumi-flags '$(PULUMI_FLAGS)') $(if $(MODEL),--model '$(MODEL)') $(if $(DRY_RUN),--dry-run)

release-gcp: pulumi-cli model ## Deploy with no traffic, check each new revision through a tag, canary it, then 100% (STACK=..., MODEL=..., DRY_RUN=1)
	$(RELEASE_GCP) release $(RELEASE_FLAGS)

rollback-gcp: pulumi-cli $(VENV_STAMP) ## Move a function's traffic back to the previous revision, no rebuild (STACK=..., MODEL=<name> with several models, TO=<revision>, DRY_RUN=1)
	$(RELEASE_GCP) rollback $(RELEASE_FLAGS) $(if $(TO),--to '$(TO)')

# --- Cost analysis (README, "Cost analysis") ------------------------------------------------
.PHONY: cost
cost: ARGS ?= --req-per-second-mean 100 --req-size-kb 1 --mem-mb 512 --duration-ms 80
cost: $(VENV_STAMP) ## Monthly cost per platform and break-even rates: make cost ARGS="--req-per-second-mean 5 ..."
	$(PY) cost_analysis.py $(ARGS)

# --- CI/CD: .github/ (README, "CI/CD") -------------------------------------------------------
# The workflow linters need click>=8.5, which aws-sam-cli refuses: a virtualenv of their own.
LINT_VENV := .venv-lint-workflows
LINT_STAMP := $(LINT_VENV)/.installed
CI_ACCESS_STACK := SklearnInference-github-deploy
.PHONY: lint-workflows deploy-ci-access

$(LINT_STAMP): requirements-workflow-lint.txt
	test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

lint-workflows: $(LINT_STAMP) ## Lint .github/ offline: GitHub's workflow schema, then zizmor
	$(LINT_VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(LINT_VENV)/bin/check-jsonschema --builtin-schema vendor.github-actions .github/actions/*/action.yml
	$(LINT_VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(LINT_VENV)/bin/zizmor --offline --strict-collection --no-progress --quiet .github/

deploy-ci-access: $(VENV_STAMP) $(NPM_STAMP) ## Once per AWS account: the GitHub Actions deploy and verify roles (REPO=owner/name)
	@test -n "$(REPO)" || { echo "usage: make deploy-ci-access REPO=owner/name [ARGS='-c github_environments=prod']" >&2; exit 2; }
	$(CDK) deploy --no-notices -c github_repository=$(REPO) $(ARGS) $(CI_ACCESS_STACK)

# --- After deploying (README "After deploying") -------------------------------------------------
# The target: URL=..., PULUMI_STACK=<Pulumi stack> or STACK=<CloudFormation stack>, first given
# wins; ARGS=... passes anything else. STACK also names the Pulumi stack of the GCP targets above
# (and reaches a make run from their recipes through MAKEFLAGS), so it counts last, and only when
# given on the command line.
.PHONY: verify probe
ifeq ($(origin STACK),command line)
OPS_STACK := --stack '$(STACK)'
endif
# MODEL=<name> picks one model of a deployment serving several (models.toml), as for make train.
OPS_TARGET = $(if $(URL),--url '$(URL)',$(if $(PULUMI_STACK),--pulumi-stack '$(PULUMI_STACK)',$(OPS_STACK)))$(if $(MODEL), --model '$(MODEL)')
OPS_NEEDS_TARGET = $(if $(OPS_TARGET),,$(error give the deployment: URL=..., STACK=<CloudFormation stack> or PULUMI_STACK=<Pulumi stack>))

verify: model ## Check a deployment (exit 0/1/2): make verify URL=http://127.0.0.1:8080 | STACK=... | PULUMI_STACK=... [MODEL=wine] [ARGS=--json]
	$(OPS_NEEDS_TARGET)$(PY) -m ops.verify $(OPS_TARGET) $(ARGS)

probe: model ## Cold and warm latency: make probe URL=... | STACK=... [MODEL=wine] [ARGS="--force-cold 3 --plot latency.png"]
	$(OPS_NEEDS_TARGET)$(PY) -m ops.probe $(OPS_TARGET) $(ARGS)
