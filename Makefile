# firmwatch — top-level build.
#   make demo   run the live watch on the built-in simulated device
#   make test   install everything the tests need, then run them all
#   make test-fast   the tests without emulators and real VS Code, for quick local loops
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all demo test test-fast deps system-deps venv node-deps vscode-deps vsix wheel e2e e2e-stress e2e-perf lint pytest firmware bench clean

all: venv

$(STAMP): pyproject.toml setup.py
	bash .ci/install-system-deps demo
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,lsp,svd,parquet,vcd]'
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

# real VS Code (code-server), headless Chromium, playwright-core and vsce, in the user cache
VSCODE_E2E_HOME = $(shell bash .ci/install-vscode-e2e --print)

vscode-deps:
	bash .ci/install-vscode-e2e

# the extension's own devDependencies (esbuild, typescript, vsce): packaging needs no code-server
# and no browser, only Node.js and npm
EXT_STAMP := vscode-extension/node_modules/.installed
$(EXT_STAMP): vscode-extension/package-lock.json
	$(NPM) ci --no-audit --no-fund --prefix vscode-extension
	touch $(EXT_STAMP)

vsix: $(EXT_STAMP)
	cd vscode-extension && npm run package

# a wheel of the Python package (firmware sources included) in dist/: pip install dist/firmwatch-*.whl
wheel: venv
	$(PY) -m pip wheel -q --no-deps -w dist .
	@ls dist/firmwatch-*.whl

# the real-VS-Code run without its stress group (make test runs that too; make e2e-stress alone)
e2e: venv vscode-deps
	$(PY) -m pytest -q tests/test_vscode_e2e.py -k "not stress"

e2e-stress: venv vscode-deps
	$(PY) -m pytest -q tests/test_vscode_e2e.py -k "stress"

e2e-perf: venv vsix
	node tests/e2e/run.mjs --perf

deps: system-deps venv node-deps vscode-deps

demo: venv
	$(VENV)/bin/firmwatch demo

firmware:
	$(MAKE) -C firmware all

lint: venv vscode-deps
	$(VENV)/bin/ruff check adapter tests bench
	$(VENV)/bin/mypy  # strict types of the public Python API (pyproject.toml [tool.mypy])
	cd vscode-extension && npm run typecheck

pytest: venv
	$(PY) -m pytest -q tests

# quick local loop: no emulator (QEMU, simavr) and no real-VS-Code tests; CI runs `make test`
test-fast: venv
	FIRMWATCH_TEST_FAST=1 $(PY) -m pytest -q -m "not emulator and not vscode" tests

test: deps lint pytest

bench: venv
	$(PY) bench/symbols.py
	$(PY) bench/large_elf.py
	$(PY) bench/streamer.py
	$(PY) bench/gdb.py
	$(PY) bench/dap.py
	$(PY) bench/lsp.py
	$(PY) bench/rust.py
	$(PY) bench/peripherals.py
	$(PY) bench/memory.py
	$(PY) bench/profiler.py
	$(PY) bench/rtos.py
	$(PY) bench/recording.py
	$(PY) bench/api.py
	$(PY) bench/faults.py
	$(PY) bench/capture.py

clean:
	rm -rf $(VENV) build dist tests/_build bench/_build
	rm -rf vscode-extension/dist vscode-extension/out vscode-extension/firmwatch.vsix
	-$(MAKE) -C firmware clean
