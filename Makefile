# One command sets up and runs the demo, one sets up and runs every check.
#   make demo   - install, build the dashboard (when npm is there), start Redis (embedded if none
#                 answers), API and worker; train a demo
#   make test   - install, then lint, format check, type check, lock check and the test suite,
#                 then the dashboard's checks, unit tests and browser tests (ui-test)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := examples/model-trainer-extras
NPM := $(shell command -v npm)
# `npm ci` rewrites this file: node_modules is as the lock says while it is newer than the lock.
UI_STAMP := ui/node_modules/.package-lock.json
# The dashboard's test runs keep their output here (.ci/run prints their closing lines).
UI_LOGS ?= ui/test-logs

# pipefail: a runner whose output is tee'd still fails the target.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: setup demo test lint typecheck lockcheck pytest bench clean ui-setup ui-build ui-test

setup: $(STAMP)

# After the main package, the example plugin package is installed as a user would install one
# (the plugin tests use it); its dependencies are the main package's and setuptools came with
# them (torch needs it), so nothing is fetched.
$(STAMP): pyproject.toml constraints.txt $(EXTRAS)/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e ./$(EXTRAS)
	touch $(STAMP)

# The API serves the built dashboard at http://127.0.0.1:8000/ui/ while the demo runs
# (DEMO_ARGS=--keep-running: until Ctrl-C).
demo: setup $(if $(NPM),ui-build)
	@test -n "$(NPM)" || echo "npm not found: the dashboard at /ui/ is not built (ui/README.md)"
	$(BIN)/model-trainer demo $(DEMO_ARGS)

lint: setup
	$(BIN)/ruff check server bench examples ui/tests/e2e
	$(BIN)/ruff format --check server bench examples ui/tests/e2e

typecheck: setup
	$(BIN)/mypy
	$(BIN)/mypy ui/tests/e2e/stack.py  # the browser tests' stack launcher
	cd $(EXTRAS) && ../../$(BIN)/mypy  # on its own, under its own pyproject's settings

lockcheck:
	scripts/check-lock.sh

pytest: setup
	$(BIN)/pytest

test: lint typecheck lockcheck pytest ui-test

# The dashboard (ui/, Node 20): installed exactly as the lock says, when it changed.
ui-setup: $(UI_STAMP)

$(UI_STAMP): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
	touch $(UI_STAMP)

ui-build: ui-setup
	cd ui && npm run build

# Type check, lint, unit tests (vitest), the generated client's staleness check, then the
# browser tests (Playwright in Debian's Chromium against private stacks; they need the
# build and the venv). vitest and Playwright each end with a line `N passed, N failed`.
ui-test: setup ui-build
	mkdir -p $(UI_LOGS)
	cd ui && npm run typecheck
	cd ui && npm run lint
	cd ui && npm test 2>&1 | tee $(abspath $(UI_LOGS))/vitest.log
	cd ui && npm run check:client
	cd ui && npm run e2e 2>&1 | tee $(abspath $(UI_LOGS))/playwright.log

bench: setup
	$(BIN)/python bench/tokenizer_train.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
	rm -rf ui/node_modules ui/dist ui/test-results ui/playwright-report $(UI_LOGS)

# A wheel of the package with the dashboard inside (model_trainer/ui_dist/), into dist/:
# setup.py's build hook copies ui/dist into it. `pip install dist/model_trainer-*.whl` then
# serves /ui/ with no checkout around.
.PHONY: wheel precommit
wheel: setup ui-build
	$(BIN)/python -m pip wheel --no-deps -w dist .

# Run .pre-commit-config.yaml's checks (ruff, mypy, the dashboard's type check, the client's
# staleness check) on every `git commit`.
precommit: setup
	$(BIN)/pre-commit install
