# Quick start: `make smoke` (the main job on the embedded default) and `make test` (the suite).
# Both create .venv, install the pinned Python packages and the Debian packages they need,
# and are idempotent: a second run only re-runs the job.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: smoke test test-soak test-extended lint bench deps debs clean lab-up lab-down

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed")'
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { scripts/ensure-debian-packages python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

deps: $(STAMP) debs

debs:
	@scripts/ensure-debian-packages

# The main job on the embedded default: scenarios/smoke.yaml on the local lab (loopback without root).
smoke: deps
	$(VENV)/bin/pytest -p no:cacheprovider scenarios/smoke.yaml $(PYTEST_ARGS)

# The suite but the opt-in soak and extended tests, in two parts (scripts/test-suite): first what is safe side by
# side on two pytest-xdist workers, then alone the tests marked serial (pacing, the lab's rates, fixed namespaces,
# the live fault runs). About 16 minutes on 2 cores. PYTEST_ARGS go to both parts (-k, -x, --junitxml, paths; a later -n overrides -n 2).
test: deps
	$(VENV)/bin/ruff check harness tests bench scripts/repeat-tests scripts/test-suite
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy scripts/repeat-tests
	$(VENV)/bin/mypy scripts/test-suite
	$(PY) scripts/test-suite -m "not soak and not extended" $(PYTEST_ARGS)

# The opt-in long tests (scaled multi-hour scenarios): not part of make test.
test-soak: deps
	$(VENV)/bin/pytest -m soak $(PYTEST_ARGS)

# The opt-in longer live runs (a killed harness's faults reaped by the next run): not part of make test.
test-extended: deps
	$(VENV)/bin/pytest -m extended $(PYTEST_ARGS)

lint: deps
	$(VENV)/bin/ruff check harness tests bench scripts/repeat-tests scripts/test-suite
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy scripts/repeat-tests
	$(VENV)/bin/mypy scripts/test-suite

bench: deps
	$(PY) -m bench.sender
	$(PY) -m bench.recorder
	$(PY) -m bench.checker

lab-up: deps
	$(PY) -m harness.lab up

lab-down: deps
	$(PY) -m harness.lab down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
