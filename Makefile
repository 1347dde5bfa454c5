# Every target sets itself up (venv, pip, npm) idempotently: a fresh clone needs only python3 and node/npm.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
# The Node.js that `make npm` may install (see NODE_LTS below) comes first for every recipe, so
# that the CDK CLI and jsii (which starts `node` from PATH) run on it.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: help venv checkov-venv model train serve test lint bench events invoke-local

# What `make help` prints for a $(NAME) in a target's description: its value in this run.
HELP_VARIABLES := HOST PORT NODE_LTS
help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort \
	  | sed $(foreach name,$(HELP_VARIABLES),-e 's|$$($(name))|$($(name))|g') \
	  | awk -F '\t' '{ printf "  %-17s %s\n", $$1, $$2 }'
	@echo "Each test-* part runs one part of make test; ARGS=... goes to pytest: make test-aws ARGS='-k alarm -x'"

# checkov scans the synthesized templates in `make test`; its many pins get a virtualenv of
# their own so they never decide the project's.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(VENV_STAMP): requirements.txt requirements-dev.txt $(wildcard handler/requirements/*.txt)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@echo "Installing the development toolchain into $(VENV) (CDK, Pulumi, scikit-learn, test tools; a few minutes the first time)"
	$(PY) -m pip install --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV_STAMP) ## Create .venv and install every pinned requirement

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@echo "Installing checkov into $(CHECKOV_VENV)"
	$(CHECKOV_VENV)/bin/python -m pip install --disable-pip-version-check -r requirements-checkov.txt
	touch $@

checkov-venv: $(CHECKOV_STAMP) ## Create .venv-checkov with the pinned checkov (make test needs it)

model: $(VENV_STAMP) ## Train the declared models (models.toml) that have no artifacts yet (they are committed)
	@$(PY) -m model.catalog ensure

train: $(VENV_STAMP) ## Retrain every model in models.toml, or MODEL=<name>, and rewrite its artifacts (commit them)
	$(PY) -m model.catalog train $(MODEL)

# --- Serving locally: what a deployment installs, not the development toolchain -----------------
# make serve and make invoke-local run in .venv-serve, which holds exactly what a Cloud Function
# of the reference model installs (handler/runtime.py: handler/requirements/gcp.txt, a superset of
# the Lambda image's, plus the model's backend at the version its manifest records). They never
# need .venv: the model's artifacts are committed.
SERVE_VENV := .venv-serve
# MODEL=<name> serves another model of models.toml (its artifacts; the catalog needs only the
# standard library), with what that model's backend needs installed too.
SERVE_MODEL := $(if $(MODEL),$(shell $(PYTHON) -m model.catalog artifacts $(MODEL) || echo undeclared),model/artifacts)
SERVE_STAMP := $(SERVE_VENV)/.installed-$(subst /,-,$(SERVE_MODEL))

$(SERVE_STAMP): $(wildcard handler/requirements/*.txt) $(SERVE_MODEL)/manifest.json
	test -x $(SERVE_VENV)/bin/python || $(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/python -m handler.runtime requirements gcp $(SERVE_MODEL) > $(SERVE_VENV)/requirements.txt
	@echo "Installing what the function installs into $(SERVE_VENV):" $$(grep -v '^#' $(SERVE_VENV)/requirements.txt)
	$(SERVE_VENV)/bin/python -m pip install --disable-pip-version-check -r $(SERVE_VENV)/requirements.txt
	touch $@

# Only when a fork has deleted the committed artifacts: train them (that needs .venv).
$(SERVE_MODEL)/manifest.json:
	@test "$(SERVE_MODEL)" != undeclared  # model.catalog said why
	@$(MAKE) --no-print-directory model

serve: $(SERVE_STAMP) ## Serve the Cloud Functions adapter on $(HOST):$(PORT) with functions-framework (MODEL=<name>: another model)
	MODEL_DIR=$(SERVE_MODEL) $(SERVE_VENV)/bin/functions-framework --source main.py --target predict --host $(HOST) --port $(PORT)

invoke-local: $(SERVE_STAMP) ## Run the Lambda adapter on a genuine HTTP API event (BODY=..., or EVENT=file)
	MODEL_DIR=$(SERVE_MODEL) $(SERVE_VENV)/bin/python scripts/invoke_local.py $(if $(EVENT),--event $(EVENT)) $(if $(BODY),--body '$(BODY)')

# --- Tests ------------------------------------------------------------------------------------
test: ## The quality gate CI runs: workflow lint, ruff, mypy on handler/ ops/ model/, every test-* part, then fork-check
	@# Its three environments install side by side: pip waits on the network and the disk.
	@$(MAKE) --no-print-directory -j3 $(VENV_STAMP) $(CHECKOV_STAMP) $(LINT_STAMP)
	@$(MAKE) --no-print-directory model lint-workflows
	$(VENV)/bin/ruff check --quiet .
	$(VENV)/bin/ruff format --check --quiet .
	$(VENV)/bin/mypy handler ops model
	@# The fork check beside the suite: each leaves a core idle much of the time (jsii, I/O).
	@$(PY) scripts/check_fork.py --quiet & fork=$$!; \
	  $(PY) -m pytest; suite=$$?; \
	  wait $$fork; forked=$$?; \
	  test $$suite -eq 0 -a $$forked -eq 0

# One part of the suite, through .venv; `make test` runs every part. The top-level tests/test_*.py
# are the handler's, except the cost tool's and the model pipeline's.
TESTS_COST := $(wildcard tests/test_cost_*.py)
TESTS_MODEL := tests/test_catalog.py tests/test_model_pipeline.py
TESTS_HANDLER := $(filter-out $(TESTS_COST) $(TESTS_MODEL),$(wildcard tests/test_*.py))
.PHONY: test-handler test-model test-aws test-gcp test-ops test-cost test-ci test-docs

test-handler: model ## The handler's tests: the core, both adapters, the HTTP contract
	$(PY) -m pytest $(TESTS_HANDLER) $(ARGS)

test-model: model ## models.toml and the training pipeline
	$(PY) -m pytest $(TESTS_MODEL) $(ARGS)

test-aws: model $(CHECKOV_STAMP) ## The CDK app: templates, snapshots, cdk-nag, checkov, pre-traffic hook, preflight
	$(PY) -m pytest tests/aws $(ARGS)

test-gcp: model ## The Pulumi program under mocks, the source bundle, release-gcp
	$(PY) -m pytest tests/gcp $(ARGS)

test-ops: model ## make verify, probe and preflight-aws against local servers and moto
	$(PY) -m pytest tests/ops $(ARGS)

test-cost: $(VENV_STAMP) ## make cost: prices, options, break-evens, the report
	$(PY) -m pytest $(TESTS_COST) $(ARGS)

test-ci: $(VENV_STAMP) ## The GitHub workflows, the CI access stack and this Makefile
	$(PY) -m pytest tests/ci $(ARGS)

test-docs: $(VENV_STAMP) ## Every relative link and #anchor in README.md and docs/ resolves
	$(PY) -m pytest tests/docs $(ARGS)

# The snapshot tests hold the templates this repository's cdk.json, Pulumi.<stack>.yaml and
# models.toml give; nothing else in the suite depends on those values (docs/fork.md).
SNAPSHOT_TESTS := tests/aws/test_aws_snapshot.py tests/gcp/test_gcp_snapshot.py
.PHONY: snapshots fork-check

snapshots: model ## Take the current AWS and GCP templates as the snapshots; then review them: git diff tests/
	$(PY) -m pytest -q -p no:cacheprovider $(SNAPSHOT_TESTS) --snapshot-update

fork-check: model ## Make a representative fork in a temporary copy and check it stays green (make test runs it)
	$(PY) scripts/check_fork.py

# --- Local tools ------------------------------------------------------------------------------
events: $(VENV_STAMP) ## Regenerate tests/events/ with sam local generate-event
	$(PY) scripts/generate_events.py

bench: model ## Cold init, warm latency and image size: this handler vs a naive one; a store model's cold start
	$(PY) bench/run.py $(ARGS)

lint: $(VENV_STAMP) ## ruff, and mypy on everything (slow the first time: the CDK's type stubs)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy handler ops model stacks app.py costing cost_analysis.py

# --- Mutation testing (docs/development.md) ---------------------------------------------------
# mutmut needs click>=8.4.2, which aws-sam-cli (requirements-dev.txt) refuses: a virtualenv of
# its own. It copies the sources into mutants/ and mutates them there, never in place.
MUTATION_VENV := .venv-mutation
MUTATION_STAMP := $(MUTATION_VENV)/.installed
.PHONY: mutation

$(MUTATION_STAMP): requirements-mutation.txt requirements-dev.txt requirements.txt $(wildcard handler/requirements/*.txt)
	test -x $(MUTATION_VENV)/bin/python || $(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-mutation.txt
	touch $@

# mutants/ goes first: mutmut reuses what it finds there (copies, results), and a copy older
# than the code or the tests would score something else.
mutation: $(MUTATION_STAMP) ## Mutation score of the request-handling core per file, and its surviving mutants (2-6 min)
	rm -rf mutants && mkdir mutants
	@echo "mutmut run: the core's mutants against its unit tests (log: mutants/run.log)"
	@$(MUTATION_VENV)/bin/mutmut run > mutants/run.log 2>&1 || { tail -n 40 mutants/run.log; exit 1; }
	@$(MUTATION_VENV)/bin/python scripts/mutation_report.py

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

# The CDK CLI and jsii (which prints an end-of-life banner on any other) run on a Node.js that
# package.json's engines names. Where the machine's node is another, `make npm` installs the
# .nvmrc version from npm's `node` package into node_modules/.bin, which `npx` puts first on PATH
# for the CLI and for the app it starts (jsii starts `node` from PATH), as PATH above does for make.
NODE_LTS := $(shell cat .nvmrc)
NODE_SUPPORTED := node -e 'const majors = (require("./package.json").engines.node.match(/\^\d+/g) || []).map(m => m.slice(1)); process.exit(majors.includes(process.versions.node.split(".")[0]) ? 0 : 1)'

$(NPM_STAMP): package.json package-lock.json .nvmrc
	npm ci --no-audit --no-fund
	@$(NODE_SUPPORTED) || { \
	  echo "node $$(node --version) is not a version the CDK supports (package.json engines): installing Node $(NODE_LTS) into node_modules/.bin"; \
	  npm install --no-save --no-audit --no-fund node@$(NODE_LTS) && hash -r && $(NODE_SUPPORTED) || { \
	    echo "error: Node $(NODE_LTS) did not install (npm's node package needs its install script): install it yourself, e.g. nvm install" >&2; exit 1; }; }
	touch $@

npm: $(NPM_STAMP) ## Install the pinned AWS CDK CLI, and Node.js $(NODE_LTS) into node_modules/.bin where the machine's is unsupported

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

# --- GCP: Pulumi program in pulumi_gcp/ (docs/deploy-gcp.md) -------------------------------------
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

# docs/operate.md, "Releasing on Google Cloud". pulumi-cli first: a missing CLI stops before anything else.
.PHONY: release-gcp rollback-gcp
RELEASE_GCP = $(PY) pulumi_gcp/release.py
# MODEL=<name>: one model of a stack serving several (models.toml); DRY_RUN=1: print the plan.
RELEASE_FLAGS = --stack $(STACK) --pulumi $(PULUMI) $(if $(PULUMI_FLAGS),--pulumi-flags '$(PULUMI_FLAGS)') $(if $(MODEL),--model '$(MODEL)') $(if $(DRY_RUN),--dry-run)

release-gcp: pulumi-cli model ## Deploy with no traffic, check each new revision through a tag, canary it, then 100% (STACK=..., MODEL=..., DRY_RUN=1)
	$(RELEASE_GCP) release $(RELEASE_FLAGS)

rollback-gcp: pulumi-cli $(VENV_STAMP) ## Move a function's traffic back to the previous revision, no rebuild (STACK=..., MODEL=<name> with several models, TO=<revision>, DRY_RUN=1)
	$(RELEASE_GCP) rollback $(RELEASE_FLAGS) $(if $(TO),--to '$(TO)')

# --- Cost analysis (docs/cost.md) ----------------------------------------------------------------
.PHONY: cost
cost: ARGS ?= --req-per-second-mean 100 --req-size-kb 1 --mem-mb 512 --duration-ms 80
cost: $(VENV_STAMP) ## Monthly cost per platform and break-even rates: make cost ARGS="--req-per-second-mean 5 ..."
	$(PY) cost_analysis.py $(ARGS)

# --- CI/CD: .github/ (docs/ci-cd.md) -------------------------------------------------------------
# The workflow linters need click>=8.5, which aws-sam-cli refuses: a virtualenv of their own.
LINT_VENV := .venv-lint-workflows
LINT_STAMP := $(LINT_VENV)/.installed
# Selected by construct id (stacks/ci_access.py), whatever github_deploy_stack_name calls it.
CI_ACCESS_STACK := GitHubDeployAccess
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

# --- After deploying (docs/operate.md, "After deploying") ----------------------------------------
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

# --- The model store (docs/operate.md, "Model store") --------------------------------------------
# MODEL=<name> of models.toml (source = "store"); the store of STACK=<CloudFormation stack>,
# PULUMI_STACK=<Pulumi stack> or STORE=s3://<bucket> | gs://<bucket>.
.PHONY: publish-model promote
STORE_TARGET = $(if $(STORE),--store '$(STORE)',$(if $(PULUMI_STACK),--pulumi-stack '$(PULUMI_STACK)',$(OPS_STACK)))
STORE_NEEDS = $(if $(MODEL),,$(error give MODEL=<name> of models.toml))$(if $(STORE_TARGET),,$(error give the store: STACK=..., PULUMI_STACK=... or STORE=s3://<bucket>))

publish-model: model ## Upload MODEL's trained artifacts as version <manifest version>, never over another (STACK=... | PULUMI_STACK=... | STORE=...)
	$(STORE_NEEDS)$(PY) -m ops.model_store publish --model '$(MODEL)' $(STORE_TARGET) $(ARGS)

promote: $(VENV_STAMP) ## Point MODEL at VERSION (compare-and-swap; the next deploy releases it); rolling back is promoting the previous one
	$(STORE_NEEDS)$(if $(VERSION),,$(error give VERSION=<a published version>))$(PY) -m ops.model_store promote --model '$(MODEL)' --version '$(VERSION)' $(STORE_TARGET) $(ARGS)

verify: model ## Check a deployment (exit 0/1/2): make verify URL=http://127.0.0.1:8080 | STACK=... | PULUMI_STACK=... [MODEL=wine] [ARGS=--json]
	$(OPS_NEEDS_TARGET)$(PY) -m ops.verify $(OPS_TARGET) $(ARGS)

probe: model ## Cold and warm latency: make probe URL=... | STACK=... [MODEL=wine] [ARGS="--force-cold 3 --plot latency.png"]
	$(OPS_NEEDS_TARGET)$(PY) -m ops.probe $(OPS_TARGET) $(ARGS)
