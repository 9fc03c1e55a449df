PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The runtime dependencies only (`make run`, `make bench`), or those and the dev extras:
# test runners, linters, the browser (`make test`).
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: run test test-stress lint typecheck pytest bench clean

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

# The test suite while two busy loops take both cores, as on a loaded CI machine: no test
# may depend on what the scheduler happens to run first. The loops stop with the suite.
test-stress: $(DEV)
	@$(BIN)/python -c 'while True: pass' & one=$$!; \
	$(BIN)/python -c 'while True: pass' & two=$$!; \
	trap 'kill $$one $$two 2>/dev/null' EXIT INT TERM; \
	$(BIN)/pytest -p no:cacheprovider

# The benchmark's quick mode (under 2 minutes on 2 cores); the full mode and its figures
# are in BENCHMARKS.md: $(BIN)/python -m bench.run (about 5 minutes).
bench: $(RUNTIME)
	$(BIN)/python -m bench.run --quick
	$(BIN)/python -m bench.restarts --quick

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
