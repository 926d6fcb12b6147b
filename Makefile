# Every target installs what it needs first, so a fresh clone needs one command.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install test lint demo export auth bench package lock check-locks deploy trigger preview up clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed $(VENV)/.chromium ## .venv with the exporter and dev tools, plus Azurite and Chromium (idempotent)

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq --disable-pip-version-check --upgrade pip
	@PYTHONWARNINGS=ignore $(BIN)/python -m pip install -qq --disable-pip-version-check -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

# Debian's Chromium, for the report's browser test (tests/test_report.py skips without it): installed
# where it is missing and apt-get runs as root, the package lists refreshed only if that fails. Tried
# once per .venv; `rm .venv/.chromium` to try again.
APT_CHROMIUM := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1
$(VENV)/.chromium: | $(VENV)/.installed
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1 || [ "$$(id -u)" != 0 ]; then \
		echo "no chromium, and no apt-get as root to install it: the report's browser test will be skipped"; \
	elif ! { $(APT_CHROMIUM) || { apt-get update -qq >/dev/null 2>&1 && $(APT_CHROMIUM); }; }; then \
		echo "apt-get could not install chromium: the report's browser test will be skipped"; \
	fi
	@touch $@

lint: install ## ruff and mypy
	@$(BIN)/ruff check --quiet .
	@$(BIN)/ruff format --check --quiet .
	@$(BIN)/mypy

test: lint ## ruff, mypy and the test suite (the CI command)
	@$(BIN)/pytest

demo: install ## export the bundled simulator's demo account into ./backups
	@$(BIN)/python scripts/demo.py $(ARGS)

export: install ## export your Spotify account into ./backups (ARGS="--blob-url ..." for Azure)
	@$(BIN)/spotify-exporter export $(ARGS)

auth: install ## authorize your Spotify account once (ARGS="--vault NAME" for Key Vault, --no-browser, --restore)
	@$(BIN)/python scripts/auth.py $(if $(VAULT),--vault $(VAULT)) $(ARGS)

bench: install ## requests, wall time and memory against the simulator
	@$(BIN)/python scripts/bench.py $(ARGS)

# The function app's Python: empty means the script's own choice (package: 3.12; lock: every lock;
# deploy: the stack output pythonVersion, else the app's runtime). PYTHON_VERSION=3.13 overrides it.
PYTHON_VERSION ?=
PYTHON_FLAG = $(if $(PYTHON_VERSION),--python-version $(PYTHON_VERSION))
package: install ## zip functions/ with its dependencies for Linux x86_64 (PYTHON_VERSION=3.13 for another)
	@$(BIN)/python scripts/package.py $(PYTHON_FLAG)

lock: install ## re-pin functions/requirements-<python>.txt, one per offered Python, from requirements.in
	@$(BIN)/python scripts/lock.py $(PYTHON_FLAG)

check-locks: install ## check that each lock installs for its Python on Linux x86_64 (needs PyPI)
	@$(BIN)/python scripts/lock.py --check

deploy: install ## build the package for the app's Python and publish it (ARGS="--app NAME ...")
	@$(BIN)/python scripts/deploy.py $(PYTHON_FLAG) $(ARGS)

trigger: install ## run the export in Azure now and wait for its snapshot (names from the stack outputs)
	@$(BIN)/python scripts/trigger.py $(ARGS)

preview: install ## show what `pulumi up` would change (needs the Pulumi CLI)
	@pulumi preview $(ARGS)

up: install ## provision Azure and publish the code (needs the Pulumi CLI)
	@pulumi up $(ARGS)

clean: ## remove the virtualenv, node_modules and caches (never ./backups)
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache build *.egg-info
