# The two commands: `make run` and `make test`. Everything else is what they need.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
ASTERISK_ROOT ?= $(HOME)/.cache/hotline/asterisk-sid
export HOTLINE_ASTERISK_ROOT ?= $(ASTERISK_ROOT)

.PHONY: run test unit integration e2e lint deps venv asterisk prompts clean

# Prompts are rebuilt at every start of `make run`; this builds them alone (e.g.
# to copy to a PBX of your own). Drop a recorded <name>.wav into config/prompts/
# to replace a synthesised one.
prompts: deps venv
	$(VENV)/bin/hotline prompts --out var/prompts

# `hotline serve --embedded` also starts the console (`hotline console`) as a child process.
run: deps venv asterisk
	@mkdir -p var
	@$(VENV)/bin/hotline secrets init
	@$(VENV)/bin/hotline config check
	exec $(VENV)/bin/hotline serve --embedded

test: deps venv asterisk
	$(VENV)/bin/pytest -q -n 2 --dist load
	$(MAKE) --no-print-directory lint

unit: venv
	$(VENV)/bin/pytest -q tests/unit

integration: deps venv
	$(VENV)/bin/pytest -q tests/integration

e2e: deps venv asterisk
	$(VENV)/bin/pytest -q tests/e2e

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

deps:
	@bash scripts/install-system-deps.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

asterisk:
	@bash scripts/install-asterisk.sh

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
