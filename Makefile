# stratus: two commands on a fresh machine.
#   make demo   create .venv, install stratus, run the walkthrough on the local provider
#   make test   create .venv, install stratus with test tools, run lint, types and the test suite
#   (make demo installs only what stratus needs to run)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install install-dev demo test lint typecheck unit bench bench-sim clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# What stratus needs to run (the demo, the benchmarks), and on top of it the test tools.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/python examples/walkthrough.py $(if $(SLEEP),--sleep $(SLEEP)) $(if $(ENGINE),--engine $(ENGINE))

lint: install-dev
	$(BIN)/ruff check .

typecheck: install-dev
	$(BIN)/mypy

unit: install-dev
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=25

test: lint typecheck unit

bench: install
	$(BIN)/python benchmarks/bench_local.py

bench-sim: install
	$(BIN)/python benchmarks/bench_sim.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
