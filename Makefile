# Two commands on a fresh machine: `make demo` (a real optimisation on the embedded local model)
# and `make test` (lint, then the whole suite). Both create or reuse .venv and install what they
# need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.picaco-installed
export HF_HUB_OFFLINE := 1
export LANGCHAIN_TRACING_V2 := false
export LANGSMITH_TRACING := false

.PHONY: install demo test unit integration lint format bench docs-numbers clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m langchain_picaco.llm.local prepare --model all
	bash tools/system_deps.sh
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m langchain_picaco.demo

# Lint first (ruff also formats the Python blocks in docs/*.md and README.md), so it stays green.
test: lint
	$(PY) -m pytest tests -q

unit: $(STAMP)
	$(PY) -m pytest tests -q -m "not integration"

integration: $(STAMP)
	$(PY) -m pytest tests -q -m integration

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) benchmarks/bench_injection.py

# Re-measure every table in docs/ that a script makes and put it back between its markers,
# stamped (benchmarks/docs_numbers.py). ARGS: --list, --scripted-only, --quick, --only NAME,...
docs-numbers: $(STAMP)
	$(PY) benchmarks/docs_numbers.py $(ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
