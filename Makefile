# Two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help run prepare test install lint pytest pytest-sqlite pytest-postgres sandbox

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

# Every step of `make run` reads the same configuration: the environment plus ENV_FILE,
# through honcho (`honcho run` for the one-off commands, `honcho start` for the processes).
ENV_FILE ?= .env
WITH_ENV := $(PY) -m honcho run --env $(ENV_FILE)

# The database `make run` uses, migrated, with the demo in it if it holds no one yet.
prepare: export DEBUG := true
prepare: install var
	$(WITH_ENV) $(PY) manage.py migrate --no-input
	$(WITH_ENV) $(PY) manage.py createcachetable
	$(WITH_ENV) $(PY) manage.py seed_demo --if-empty

# The demo runs in development mode: the dev server, static files from the source tree,
# and Rally allowed over http on loopback (the sandbox).
run: export DEBUG := true
run: prepare
	$(PY) -m honcho start --env $(ENV_FILE) -f Procfile

lint: install var
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-logo --no-cache
	AHARALLY_TESTING=true $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m rally_sandbox manage makemigrations --check --dry-run

# Tests marked postgres_only run several task clusters on one database, which SQLite can't
# serve; those marked redis need Redis. Each pass names what it leaves to another (-m), so
# nothing is skipped quietly: the PostgreSQL pass runs everything else, then the Redis tests
# (with Redis as broker and slot store) under scripts/with-redis. Tests of the Rally client and
# the sandbox that never touch aharally's database (sandbox_only, tests/passes.py) run the same
# on any database: the SQLite pass runs them, the PostgreSQL pass does not run them again.
# Two pytest workers (pytest-xdist), a file each at a time: much of the suite waits on task
# clusters and the sandbox, so two keep both cores busy. PYTEST_WORKERS=0 runs in one process.
# The files marked long_running start first (tests/passes.py): pytest-xdist's own order (most
# tests first) left them to the end, one worker running them alone for minutes.
PYTEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder)

pytest-sqlite: install
	AHARALLY_TESTING=true $(PYTEST) -m "not postgres_only and not redis"

pytest-postgres: install
	AHARALLY_TESTING=true scripts/with-postgres $(PYTEST) -m "not redis and not sandbox_only"
	AHARALLY_TESTING=true scripts/with-postgres scripts/with-redis $(PYTEST) -m redis

test: install
	scripts/install-system-packages
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory pytest-sqlite
	$(MAKE) --no-print-directory pytest-postgres
