# One command sets up and runs the demo, one sets up and runs every check.
#   make demo   - install, start Redis (embedded if none answers), API and worker; train a demo
#   make test   - install, then lint, format check, type check, lock check and the test suite

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := examples/model-trainer-extras

.PHONY: setup demo test lint typecheck lockcheck pytest bench clean

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

demo: setup
	$(BIN)/model-trainer demo

lint: setup
	$(BIN)/ruff check server bench examples
	$(BIN)/ruff format --check server bench examples

typecheck: setup
	$(BIN)/mypy
	cd $(EXTRAS) && ../../$(BIN)/mypy  # on its own, under its own pyproject's settings

lockcheck:
	scripts/check-lock.sh

pytest: setup
	$(BIN)/pytest

test: lint typecheck lockcheck pytest

bench: setup
	$(BIN)/python bench/tokenizer_train.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
