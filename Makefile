# firmwatch — top-level build.
#   make demo   run the live watch on the built-in simulated device
#   make test   install everything the tests need, then run them all
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all demo test deps system-deps venv lint pytest firmware bench clean

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

deps: system-deps venv

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
