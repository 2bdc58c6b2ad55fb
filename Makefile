# seqgen: `make demo` installs, samples from the shipped model, then trains, scores and samples on the embedded
# default; `make test` installs and runs the whole test suite (the wheel install test included).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export SEQGEN_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: install demo test lint bench-startup

$(BIN)/seqgen: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip "setuptools>=77"
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

bench-startup: install
	$(BIN)/python scripts/bench_startup.py
