# callgen: every target sets itself up first (Debian packages, pjsua build, .venv).
# `make setup` is idempotent; a second run takes seconds.

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
CALLGEN := $(VENV)/bin/callgen
PYTEST_ARGS ?=

.PHONY: setup demo test test-unit test-integration bench doctor clean reference library

setup:
	@bash scripts/setup.sh

demo: setup
	$(CALLGEN) doctor
	$(CALLGEN) run scenarios/basic_call.yaml

test: setup
	$(PY) -m pytest -ra $(PYTEST_ARGS)

test-unit: setup
	$(PY) -m pytest -ra -m "not integration" $(PYTEST_ARGS)

test-integration: setup
	$(PY) -m pytest -ra -m integration $(PYTEST_ARGS)

bench: setup
	$(PY) bench/bench_analyze.py

doctor: setup
	$(CALLGEN) doctor

clean:
	rm -rf callgen-runs callgen-render .pytest_cache

reference: setup
	$(PY) scripts/schema_reference.py

library: setup
	$(CALLGEN) run scenarios/ -j 2 --junit callgen-runs/junit.xml
