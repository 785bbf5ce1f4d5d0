# Quick start: `make smoke` (the main job on the embedded default) and `make test` (the suite).
# Both create .venv, install the pinned Python packages and the Debian packages they need,
# and are idempotent: a second run only re-runs the job.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: smoke test lint bench deps debs clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed")'
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { scripts/ensure-debian-packages python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

deps: $(STAMP) debs

debs:
	@scripts/ensure-debian-packages

# Until the scenario engine lands: a short send-and-verify run over loopback.
smoke: deps
	$(VENV)/bin/pytest -q tests/sender/test_send_loopback.py $(PYTEST_ARGS)

test: deps
	$(VENV)/bin/ruff check harness tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: deps
	$(VENV)/bin/ruff check harness tests bench
	$(VENV)/bin/mypy

bench: deps
	$(PY) -m bench.sender
	$(PY) -m bench.recorder
	$(PY) -m bench.checker

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
