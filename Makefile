# supportes — every target installs what it needs first (virtualenv, Python deps, system packages,
# Kafka jars) and starts what it needs (local Kafka + PostgreSQL). `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUPPORTES := $(BIN)/supportes
INSTALLED := $(VENV)/.installed
PYTEST := $(BIN)/pytest
PYTEST_ARGS ?=

.PHONY: help setup system-deps run test test-faults test-unit test-integration test-e2e lint typecheck bench \
        stack-up stack-down stack-status clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

setup: system-deps $(INSTALLED) ## install system packages (as root), virtualenv and Python deps

system-deps:
	@PYTHON=$(PYTHON) bash deploy/ensure-system-deps.sh
	@bash deploy/ensure-deploy-checkers.sh
	@bash deploy/ensure-browser-test-deps.sh

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

run: setup stack-up ## stack up, `supportes serve` (writer, projector, API) in the background, demo data once, tokens and a curl line to try
	@$(SUPPORTES) serve --detach
	@$(SUPPORTES) demo
	@SUPPORTES=$(SUPPORTES) bash deploy/print-demo-access.sh
	@echo "  (supportes is $(SUPPORTES); 'source $(VENV)/bin/activate' puts it on PATH)"
	@echo "Stop everything with: make stack-down"

test: setup stack-up ## unit, integration and end-to-end tests against the real stack
	$(PYTEST) tests/unit tests/integration tests/e2e $(PYTEST_ARGS)

test-faults: setup ## the full fault campaign (3 Kafka nodes, 3 writers, 2 projectors, 2 APIs, every fault; a deployment of its own)
	$(SUPPORTES) faults campaign

test-unit: setup ## domain and pure-Python tests (no services)
	$(PYTEST) tests/unit $(PYTEST_ARGS)

test-integration: setup stack-up ## tests against the real Kafka broker and PostgreSQL server
	$(PYTEST) tests/integration $(PYTEST_ARGS)

test-e2e: setup stack-up ## the installed supportes CLI as a subprocess
	$(PYTEST) tests/e2e $(PYTEST_ARGS)

lint: setup ## ruff (lint and format check)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: setup $(VENV)/.installed-bench-peer ## mypy (strict; the bench-peer extra too, for its driver's types)
	$(BIN)/mypy

bench: setup stack-up $(VENV)/.installed-bench-peer ## benchmarks, printed as tables with this machine's figures
	$(BIN)/python -m supportes.bench

# the bench-only extra (psycopg 3 for the eventsourcing peer); `make test` does not install it
$(VENV)/.installed-bench-peer: pyproject.toml $(INSTALLED)
	$(BIN)/pip install --quiet -e '.[dev,bench-peer]'
	@touch $@

stack-up: setup ## start local Kafka + PostgreSQL (no-op when running), ensure topics, migrate
	@$(SUPPORTES) stack up >/dev/null

stack-down: ## stop the background serve, then the local Kafka + PostgreSQL
	@if [ -x $(SUPPORTES) ]; then $(SUPPORTES) stack down; fi

stack-status: setup ## what runs where (exit 1 when something is down)
	@$(SUPPORTES) stack status

clean: stack-down ## stop the stack, remove its state, the virtualenv and caches
	rm -rf .local $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
