PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean

# The venv is (re)built on first use and whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python runner.py serve

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# The benchmark's quick mode (under 2 minutes on 2 cores); the full mode and its figures
# are in BENCHMARKS.md: $(BIN)/python -m bench.run (about 5 minutes).
bench: $(STAMP)
	$(BIN)/python -m bench.run --quick
	$(BIN)/python -m bench.restarts --quick

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
