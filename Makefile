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

.PHONY: cost
cost: ARGS ?= --req-per-second-mean 100 --req-size-kb 1 --mem-mb 512 --duration-ms 80
cost: $(VENV_STAMP) ## Monthly cost per platform and break-even rates: make cost ARGS="--req-per-second-mean 5 ..."
	$(PY) cost_analysis.py $(ARGS)
