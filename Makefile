# veille: `make run` starts the service, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test check lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/veille init --starter
	$(BIN)/veille run

lint: install
	$(BIN)/ruff check veille worker tasks tests

typecheck: install
	$(BIN)/mypy

check: lint typecheck

test: check
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# `make bench`: the farm on loopback, veille against rss2email and a plain loop; figures in docs/performance.md.
# Sizes: make bench BENCH_ARGS="--feeds 1000 --items 5 --concurrency 4"; see python -m veille.bench run --help.
BENCH_DATA ?= ../shared/data
BENCH_ARGS ?=

bench: install
	$(BIN)/python -c "import rss2email" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m veille.bench run --data $(BENCH_DATA) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
