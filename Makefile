# Two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help run test install lint pytest pytest-sqlite pytest-postgres sandbox

help:
	@echo "make run   - install what is missing, migrate, seed the demo, start everything"
	@echo "make test  - install what is missing, then lint and the whole test suite"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $$(scripts/find-python) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed node_modules/.installed

var:
	@mkdir -p var

# The demo runs in development mode: the dev server, static files from the source tree,
# and Rally allowed over http on loopback (the sandbox).
run: export DEBUG := true
run: install var
	$(PY) manage.py migrate --no-input
	$(PY) manage.py createcachetable
	@test -f var/.demo-seeded || { $(PY) manage.py seed_demo && touch var/.demo-seeded; }
	$(PY) -m honcho start -f Procfile

lint: install var
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	AHARALLY_TESTING=true $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m aharally.rally_sandbox manage makemigrations --check --dry-run

pytest-sqlite: install
	AHARALLY_TESTING=true $(PY) -m pytest

pytest-postgres: install
	@# Tests marked sandbox_only never touch aharally's database: the SQLite pass ran them.
	AHARALLY_TESTING=true scripts/with-postgres $(PY) -m pytest -m "not sandbox_only"

test: install
	scripts/install-system-packages
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory pytest-sqlite
	$(MAKE) --no-print-directory pytest-postgres
