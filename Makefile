# The two commands a user needs: `make run` (the whole backend on this machine) and `make test`.
# Everything else here is what those two need. CI calls `make test` and nothing else.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two levels: what `make run` needs, and that plus the test and lint tools (the `dev` extra).
# The dev stamp implies the run stamp, so run-then-test installs the tools once, test-then-run
# installs nothing more.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
CHROMIUM ?= /usr/bin/chromium
# Extra flags for the local stack, e.g. `make run ARGS="--port 4000"`.
ARGS ?=

.PHONY: help install install-run run test lint format unit functional e2e browser-deps bench clean

help:
	@echo "make run      start the whole backend locally (WebSocket API, @connections, Lambdas, moto)"
	@echo "make test     install what is missing, lint, type-check and run the whole test suite"
	@echo "make bench    run the benchmarks under bench/ and print their figures"

$(VENV)/.venv-created:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@touch $@

$(RUN_STAMP): pyproject.toml $(VENV)/.venv-created
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(DEV_STAMP): pyproject.toml $(VENV)/.venv-created
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(RUN_STAMP)

install-run: $(RUN_STAMP)

install: $(DEV_STAMP)

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
browser-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

run: install-run
	$(BIN)/python -m local $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/chatcore/python/chatcore local client

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: install
	$(BIN)/pytest tests/unit

functional: install
	$(BIN)/pytest tests/functional

e2e: install browser-deps
	$(BIN)/pytest tests/e2e

test: install browser-deps lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
