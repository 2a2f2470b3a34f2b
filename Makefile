# The two commands of the README (`make demo`, `make test`) and the inner-loop ones.
# Every target creates .venv on first use and reinstalls only when pyproject.toml or
# constraints.txt change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint format bench constraints

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

demo: $(STAMP)
	$(BIN)/python -m gladly_assets.demo

# Four workers whatever the cores: many tests wait (on subprocesses, servers, fault
# windows) rather than compute, and two more workers fill those waits. Each worker takes
# whole files so that a module's fixtures run once. A targeted `pytest tests/test_x.py
# -k name` stays in one process.
PYTEST := $(BIN)/python -m pytest -n 4 --dist loadfile

# What CI runs: style, types, then every test.
test: lint
	$(PYTEST)

# The inner loop: the rules, the parser, the warehouse, the client and the simulator; no
# Dagster runs, dagster processes, CLI runs, 1M-row files or fault windows.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow" -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py

# Pin the exact versions a fresh resolve picks today (run after changing dependencies).
constraints:
	rm -rf .constraints-venv
	$(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/python -m pip install --quiet --upgrade pip
	.constraints-venv/bin/python -m pip install --quiet -e ".[test]"
	.constraints-venv/bin/python -m pip freeze --exclude-editable | sort -f > constraints.txt
	rm -rf .constraints-venv
