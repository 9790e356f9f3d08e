# One command sets up and runs the demo, one sets up and runs every check.
#   make demo   - install, start Redis (embedded if none answers), API and worker; train a demo
#   make test   - install, then lint, format check, type check, lock check and the test suite

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint typecheck lockcheck pytest bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/model-trainer demo

lint: setup
	$(BIN)/ruff check server bench
	$(BIN)/ruff format --check server bench

typecheck: setup
	$(BIN)/mypy

lockcheck:
	scripts/check-lock.sh

pytest: setup
	$(BIN)/pytest

test: lint typecheck lockcheck pytest

bench: setup
	$(BIN)/python bench/tokenizer_train.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
