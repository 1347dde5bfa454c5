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

invoke-local: model ## Run the Lambda adapter on a generated HTTP API event (BODY=..., or EVENT=file)
	$(PY) scripts/invoke_local.py $(if $(EVENT),--event $(EVENT)) $(if $(BODY),--body '$(BODY)')

events: $(VENV_STAMP) ## Regenerate tests/events/ with sam local generate-event
	$(PY) scripts/generate_events.py

bench: model ## Cold init, warm latency and image size: this handler vs a naive one
	$(PY) bench/run.py $(ARGS)

lint: $(VENV_STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy handler

# --- GCP: Pulumi program in pulumi_gcp/ (README, "Deploy to GCP") -------------------------------
STACK ?= dev
PULUMI ?= pulumi
PULUMI_FLAGS ?=
.PHONY: preview-gcp deploy-gcp destroy-gcp pulumi-cli

pulumi-cli:
	@command -v $(PULUMI) >/dev/null 2>&1 || { \
	  echo "error: the Pulumi CLI ('$(PULUMI)') is not installed or not on PATH." >&2; \
	  echo "Install it (https://www.pulumi.com/docs/install/), run 'pulumi login', then retry." >&2; \
	  exit 1; }

# --refresh: picks up drift, e.g. a source bundle the bucket's lifecycle rule has deleted.
preview-gcp: pulumi-cli model ## Preview the Cloud Function stack (STACK=dev|prod)
	cd pulumi_gcp && $(PULUMI) preview --stack $(STACK) --refresh --diff $(PULUMI_FLAGS)

deploy-gcp: pulumi-cli model ## Deploy the Cloud Function stack with pulumi up (STACK=dev|prod)
	cd pulumi_gcp && $(PULUMI) up --stack $(STACK) --refresh $(PULUMI_FLAGS)

destroy-gcp: pulumi-cli $(VENV_STAMP) ## Tear down the Cloud Function stack (STACK=dev|prod)
	cd pulumi_gcp && $(PULUMI) destroy --stack $(STACK) $(PULUMI_FLAGS)
