PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The runtime dependencies only (`make run`, `make bench`), or those and the dev extras:
# test runners, linters, the browser (`make test`).
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Each stamp is made on first use and again whenever pyproject.toml changes.
$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(RUNTIME)
	$(BIN)/python runner.py serve

test: lint typecheck pytest

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV)
	$(BIN)/mypy

pytest: $(DEV)
	$(BIN)/pytest

# The benchmark's quick mode (under 2 minutes on 2 cores); the full mode and its figures
# are in BENCHMARKS.md: $(BIN)/python -m bench.run (about 5 minutes).
bench: $(RUNTIME)
	$(BIN)/python -m bench.run --quick
	$(BIN)/python -m bench.restarts --quick

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
