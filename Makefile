# The front door: make run, make test, make lint, make bench.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
THREADS ?= 8

.PHONY: run serve test test-py test-js lint bench bench-load setup node chromium demo clean

# A virtualenv with the pinned packages; redone whenever requirements.txt changes.
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

# d3, apache-arrow and esbuild, exactly as the lock file says.
frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# apache-arrow as one ES module for the point worker (a module worker cannot resolve its bare
# imports, and its UMD build needs a global `this`): esbuild, from npm, bundles what
# frontend/vendor-entry/arrow.mjs re-exports into frontend/build/ (/static/vendor/arrow/).
frontend/build/arrow.mjs: frontend/node_modules/.installed frontend/vendor-entry/arrow.mjs
	cd frontend && node_modules/.bin/esbuild vendor-entry/arrow.mjs --bundle --format=esm \
		--platform=browser --target=es2020 --minify --log-level=warning --outfile=build/arrow.mjs

setup: $(VENV)/.installed node

node: frontend/node_modules/.installed frontend/build/arrow.mjs

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
# POINTSITE_CHROMIUM may name another Chromium/Chrome binary already on the machine.
chromium:
	@browser="$${POINTSITE_CHROMIUM:-/usr/bin/chromium}"; \
	if [ ! -x "$$browser" ]; then \
		echo "installing Debian's chromium"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# The demo datasets: the small ones made here (~2 s); the 5M one queued for the task worker that
# bin/run starts, so the server answers at once and the page shows the import's progress.
demo: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_demo_datasets

run: demo
	@echo "pointsite on http://$(HOST):$(PORT)/"
	HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) THREADS=$(THREADS) bin/run

test: setup chromium test-py test-js

test-py: $(VENV)/.installed
	$(PY) -m pytest -q

test-js: node
	node --test frontend/test/

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Server figures, then the page's in headless Chromium, written to bench/RESULTS.md (~15 min).
# BENCH_FLAGS=--quick: a smoke run of both (500k points, fewer runs; RESULTS.md left alone).
bench: demo
	$(PY) bench/run.py --write $(BENCH_FLAGS)
	$(PY) bench/frontend.py --write $(BENCH_FLAGS)

# 16 concurrent full streams, 64 concurrent polygon queries, 256 slow readers and 64 slowloris
# connections against make run's server (bin/serve) and the gunicorn gthread it replaced (~10 min).
bench-load: $(VENV)/.installed
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) frontend/node_modules frontend/build
