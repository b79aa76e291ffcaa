# Two commands on a fresh clone: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU builds: an unpinned torch would pull a multi-GB CUDA build.
# tf-keras is Keras 2 (for TensorFlow 2.21): the tests save old-style .h5, JSON and .keras files with it.
FRAMEWORKS := tensorflow-cpu==2.21.0 keras==3.15.1 tf-keras==2.21.0 torch==2.13.0 flax==0.12.8 jax==0.10.2 jaxlib==0.10.2
SEED := configs/mnist_lstm.yaml

.PHONY: run test lint bench install dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

SOURCES := $(shell find lstmcount -name '*.py') pyproject.toml

# A regular (not editable) install, refreshed when the sources change: what users run, and
# what `make bench` measures. The tests import the checkout itself.
$(VENV)/.installed: $(SOURCES) | $(BIN)/python
	$(BIN)/pip install -q . tensorflow-cpu==2.21.0 keras==3.15.1
	touch $@

$(VENV)/.dev: $(SOURCES) | $(BIN)/python
	$(BIN)/pip install -q '.[dev]' $(FRAMEWORKS)
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.dev

run: $(VENV)/.installed
	$(BIN)/lstmcount params $(SEED)

lint: $(VENV)/.dev
	$(BIN)/ruff check lstmcount tests scripts
	$(BIN)/mypy lstmcount

test: $(VENV)/.dev lint
	$(BIN)/python -m pytest -q

bench: $(VENV)/.dev
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
