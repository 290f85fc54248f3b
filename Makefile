# veille: `make run` starts the service, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# two stamps: `make run` installs what the service needs, `make test` adds the development tools
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev run test check lint typecheck browser bench bench-pages screenshots clean

# The browser tests drive Debian's Chromium with Playwright; `make test` installs it when it is missing.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)

install-dev: $(DEV_STAMP)

run: install
	$(BIN)/veille init --starter
	$(BIN)/veille run

lint: install-dev
	$(BIN)/ruff check veille worker tasks tests

typecheck: install-dev
	$(BIN)/mypy

check: lint typecheck

browser:
	@test -x $(CHROMIUM) || { echo "installing Chromium for the browser tests (apt)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

test: check browser
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# `make bench`: the farm on loopback, veille against rss2email and a plain loop; figures in docs/performance.md.
# Sizes: make bench BENCH_ARGS="--feeds 1000 --items 5 --concurrency 4"; see python -m veille.bench run --help.
BENCH_DATA ?= ../shared/data
BENCH_ARGS ?=

bench: install-dev
	$(BIN)/python -c "import rss2email" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m veille.bench run --data $(BENCH_DATA) $(BENCH_ARGS)
	$(BIN)/python -m veille.bench pages $(BENCH_PAGES_ARGS)

# `make bench-pages`: the web page at scale alone (1,000 feeds, 100 entities, 100,000 articles), p50/p95 per page
# on SQLite and on a scratch database of the PostgreSQL server VEILLE_BENCH_POSTGRES_URL names (default: the local
# one); BENCH_PAGES_ARGS="--articles 20000 --database sqlite" for a quicker look.
BENCH_PAGES_ARGS ?=

bench-pages: install-dev
	$(BIN)/python -m veille.bench pages $(BENCH_PAGES_ARGS)

# `make screenshots`: a PNG of each page, desktop and 360 px wide, into docs/img/ (Chromium, sample data).
screenshots: install-dev browser
	$(BIN)/python -m veille.bench.screenshots --out docs/img

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
