# Every target sets itself up (venv, pip, npm) idempotently: a fresh clone needs only python3 and node/npm.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
MANIFEST := model/artifacts/manifest.json
HOST ?= 127.0.0.1
PORT ?= 8080

.DEFAULT_GOAL := help
.PHONY: help venv model train serve test lint bench events invoke-local

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(VENV_STAMP): requirements.txt requirements-dev.txt handler/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV_STAMP) ## Create .venv and install every pinned requirement

model: $(VENV_STAMP) ## Train the model only if no artifacts exist (they are committed)
	@test -f $(MANIFEST) || $(PY) -m model.train

train: $(VENV_STAMP) ## Retrain and rewrite model/artifacts (commit the result)
	$(PY) -m model.train

serve: model ## Serve the Cloud Functions adapter on $(HOST):$(PORT) with functions-framework
	$(VENV)/bin/functions-framework --source main.py --target predict --host $(HOST) --port $(PORT) --debug

test: model ## Run the whole test suite
	$(PY) -m pytest

lint: $(VENV_STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy handler

# --- AWS (CDK): `make deploy-aws ENV=prod` -----------------------------------------------------
# ENV is also a POSIX shell variable (the sh startup file), so only a command-line ENV=... counts.
ifneq ($(origin ENV),command line)
ENV := dev
endif
NPM_STAMP := node_modules/.installed
# --no-install: never fetch an unpinned CLI (npm's `latest` aws-cdk cannot read these assemblies).
CDK := npx --no-install cdk
CDK_FLAGS := --no-notices -c env=$(ENV)
.PHONY: npm synth diff deploy-aws destroy-aws

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

npm: $(NPM_STAMP) ## Install the pinned AWS CDK CLI from package-lock.json

synth: $(VENV_STAMP) $(NPM_STAMP) ## Synthesize the AWS stack for ENV (dev|prod) into cdk.out/, offline
	$(CDK) synth $(CDK_FLAGS) --quiet
	@echo "cdk.out/SklearnInference-$(ENV).template.json"

diff: model $(NPM_STAMP) ## Show what deploy-aws would change in ENV's deployed stack
	$(CDK) diff $(CDK_FLAGS)

deploy-aws: model $(NPM_STAMP) ## Build the image and deploy ENV's stack (credentials, Docker, cdk bootstrap)
	$(CDK) deploy $(CDK_FLAGS) --outputs-file cdk.out/outputs-$(ENV).json

destroy-aws: $(VENV_STAMP) $(NPM_STAMP) ## Delete ENV's stack (asks first)
	$(CDK) destroy $(CDK_FLAGS)
