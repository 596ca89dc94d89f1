# callgen: every target sets itself up first (Debian packages, pjsua build, .venv).
# `make setup` is idempotent; a second run takes seconds.

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
CALLGEN := $(VENV)/bin/callgen
PYTEST_ARGS ?=

.PHONY: setup venv demo test test-unit test-integration lint bench bench-load bench-soak bench-overhead doctor clean reference library

setup:
	@bash scripts/setup.sh

# Only the virtualenv: no root, no Debian packages, no pjsua build (make test-unit, make lint)
venv:
	@bash scripts/setup.sh venv

demo: setup
	$(CALLGEN) doctor
	$(CALLGEN) run scenarios/basic_call.yaml

test: setup
	$(PY) -m pytest -ra $(PYTEST_ARGS)

# Seconds of feedback for a contributor: no root, no pjsua build, no real calls
test-unit: venv
	$(PY) -m pytest -ra -m "not integration" $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check callgen tests bench scripts
	$(VENV)/bin/lint-imports

test-integration: setup
	$(PY) -m pytest -ra -m integration $(PYTEST_ARGS)

bench: setup
	$(PY) bench/bench_analyze.py

# callgen's load (PCMA through a local Kamailio, every call proven) and SIPp beside it
bench-load: setup
	$(PY) bench/bench_load.py $(BENCH_ARGS)

# a soak at 40 cps (holds 3-5 s) through the local Kamailio: every call proven while it runs, the capture
# in bounded files; RSS of callgen and each pjsua at the start and the end (CALLS=20000: about 9 minutes)
CALLS ?= 20000
bench-soak: setup
	$(PY) bench/bench_soak.py --calls $(CALLS) $(BENCH_ARGS)

# wall time minus scripted time per library scenario, -j 1 (places real calls)
bench-overhead: setup
	$(PY) bench/bench_overhead.py

doctor: setup
	$(CALLGEN) doctor

clean:
	rm -rf callgen-runs callgen-render .pytest_cache

reference: setup
	$(PY) scripts/schema_reference.py
	$(PY) scripts/checks_reference.py

library: setup
	$(CALLGEN) run scenarios/ -j 2 --junit callgen-runs/junit.xml
