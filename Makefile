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

test: setup cluster-binaries lint
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PYTHON) -m pytest

crds: setup
	$(HEADWATER) crds --out crds
