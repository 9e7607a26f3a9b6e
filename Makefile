# One entry point for people and CI. `make quickstart` sets up and runs the main
# example locally; `make test` runs everything .ci/run runs.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
HEADWATER := $(VENV)/bin/headwater

.PHONY: setup quickstart test lint crds cluster-binaries

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $@

quickstart: setup
	$(HEADWATER) run examples/rionowcast

cluster-binaries:
	tests/cluster/build
	tests/cluster/build-seaweedfs

lint: setup
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

# Two workers, whole files each: an e2e test waits on Pods about half the time, so two
# control planes side by side keep both cores busy. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: setup cluster-binaries lint
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadfile

crds: setup
	$(HEADWATER) crds --out crds
