# heartsock — two commands do all set-up on a fresh machine:
#   make demo    install what is missing, then serve the demos on http://127.0.0.1:8000
#   make test    install what is missing, then lint, type-check and run the whole suite
# `make bench` runs the browser benchmarks, `make soak` the demo under load (neither is part of `make test`).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The unit tier's own virtualenv: pytest and hypothesis only, which proves it needs nothing else.
UNIT_VENV := .venv-unit
CHROMIUM := /usr/bin/chromium
REDIS_SERVER := /usr/bin/redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MICROPIP := devtools/micropip.txt
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup test demo bench soak lint unit browser wheel clean

setup: $(CHROMIUM) $(REDIS_SERVER) $(VENV)/.installed node_modules/.installed vendor/.installed

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) apt-get install -y chromium

# The RedisStore tests start their own redis-server (Debian's) on a free loopback port.
$(REDIS_SERVER):
	$(SUDO) apt-get update
	$(SUDO) apt-get install -y redis-server

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(UNIT_VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(UNIT_VENV)
	$(UNIT_VENV)/bin/python -m pip install --quiet $$(grep -E '^(pytest|hypothesis)==' requirements-dev.txt)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# micropip is not in the npm pyodide package: take the wheel PyPI publishes, checked
# against the hash in $(MICROPIP) (by pip here, and again by devtools/vendor.py).
vendor/.installed: $(VENV)/.installed node_modules/.installed Makefile devtools/vendor.py $(MICROPIP)
	rm -rf vendor/wheels && mkdir -p vendor/wheels
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.14 --require-hashes \
		--dest vendor/wheels -r $(MICROPIP)
	$(PY) -m devtools.vendor
	touch $@

# mypy checks heartsock, and the browser tier's page-side code (tests/browser/pages/scenarios,
# run in Pyodide), which imports hstest from devtools/pages.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy heartsock
	MYPYPATH=devtools/pages $(VENV)/bin/mypy tests/browser/pages/scenarios

wheel: $(VENV)/.installed
	rm -rf dist && $(PY) -m build --no-isolation --outdir dist . >/dev/null

# An offline folder for your own page (pyodide/, pyscript/, wheels/, the quick-start
# page from examples/bundle/): make bundle DEST=mysite && python3 -m http.server -d mysite 8731
ifneq ($(filter bundle,$(MAKECMDGOALS)),)
ifeq ($(strip $(DEST)),)
$(error make bundle needs DEST, the folder to write: make bundle DEST=mysite)
endif
endif
.PHONY: bundle
bundle: setup wheel
	$(PY) -m devtools.bundle --wheel dist/heartsock-*-py3-none-any.whl "$(DEST)"

# The tiers run as separate pytest sessions, each with what it needs: unit (the pure core
# and Socket on a fake runtime; pytest + hypothesis only), tooling (heartsock.server,
# packaging, docs, config; the dev tools), browser and e2e (Playwright + Chromium).
test: setup lint wheel $(UNIT_VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet
	$(UNIT_VENV)/bin/python -m pytest tests/unit
	$(PY) -m pytest tests/tooling
	$(PY) -m pytest tests/browser
	$(PY) -m pytest tests/e2e

# The API reference, built from the docstrings (mkdocs.yml, docs/): writes site/. It fails
# for a broken cross-reference, or a public name without a docstring or on no page.
.PHONY: docs
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

unit: $(UNIT_VENV)/.installed
	$(UNIT_VENV)/bin/python -m pytest tests/unit

browser: setup wheel
	$(PY) -m pytest tests/browser

demo: setup wheel
	$(PY) -m demo --host $(HOST) --port $(PORT)

bench: setup wheel
	$(PY) -m bench

# The demo under hostile load (idle connections, churn, slowloris, a flood, a stuck reader,
# big echoes, concurrent big downloads), about 5 minutes: writes bench/soak.json and the
# README's soak table (--scale 0.1 for a quick check; --commit HEAD runs the committed demo, not the working tree).
soak: setup wheel
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) $(UNIT_VENV) node_modules vendor dist build site .pytest_cache .mypy_cache .ruff_cache
