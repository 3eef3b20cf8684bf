# firmwatch — top-level build.
#   make demo   run the live watch on the built-in simulated device
#   make test   install everything the tests need, then run them all
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all demo test deps system-deps venv node-deps lint pytest firmware bench clean

all: venv

$(STAMP): pyproject.toml setup.py
	bash .ci/install-system-deps demo
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,lsp]'
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	bash .ci/install-system-deps

# node packages the tests drive (Microsoft's DAP test client); npm's config here says yes=false
NPM := npm_config_yes=true npm
NODE_STAMP := tests/dap-conformance/node_modules/.installed
$(NODE_STAMP): tests/dap-conformance/package-lock.json
	$(NPM) ci --no-audit --no-fund --prefix tests/dap-conformance
	touch $(NODE_STAMP)

node-deps: $(NODE_STAMP)

deps: system-deps venv node-deps

demo: venv
	$(VENV)/bin/firmwatch demo

firmware:
	$(MAKE) -C firmware all

lint: venv
	$(VENV)/bin/ruff check adapter tests bench

pytest: venv
	$(PY) -m pytest -q tests

test: deps lint pytest

bench: venv
	$(PY) bench/symbols.py
	$(PY) bench/streamer.py
	$(PY) bench/gdb.py

clean:
	rm -rf $(VENV) build dist tests/_build bench/_build
	-$(MAKE) -C firmware clean
