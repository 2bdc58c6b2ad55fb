# seqgen: `make demo` installs and runs the main job on the embedded default; `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export SEQGEN_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: install demo test lint

$(BIN)/seqgen: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[dev]"
	touch $@

install: $(BIN)/seqgen

demo: install
	bash scripts/demo.sh

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check seqgen tests scripts
