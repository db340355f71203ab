# One Makefile for developers and CI. `make help` lists the targets.
PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
HOST     ?= 127.0.0.1
PORT     ?= 8080
PACKAGES ?= ./packages
PYTEST_ARGS ?=
BENCH_ARGS  ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test unit lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# The venv is rebuilt only when pyproject.toml changes (sentinel file).
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/.installed ## create the virtualenv with dynopypi and the test tools

run: $(BIN)/.installed ## serve ./packages on http://127.0.0.1:8080/ (PACKAGES, HOST, PORT)
	mkdir -p $(PACKAGES)
	$(BIN)/dynopypi run -i $(HOST) -p $(PORT) $(PACKAGES)

lint: $(BIN)/.installed ## ruff (lint and format check) and mypy --strict
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(BIN)/.installed ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

test: lint ## lint, then every test (unit and end-to-end with pip, uv, twine, nginx)
	$(BIN)/pytest $(PYTEST_ARGS)

unit: $(BIN)/.installed ## only the fast in-process tests
	$(BIN)/pytest tests --ignore=tests/e2e $(PYTEST_ARGS)

bench: $(BIN)/.installed ## benchmark against pypiserver on a generated corpus (BENCH_ARGS)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean: ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
