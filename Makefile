# Gatehouse: `make run` serves the app with a worker and demo data; `make test` runs every suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# requirements.lock: what production installs; requirements-test.lock: that plus the test tools.
# Both pin every package with its sha256 hashes (`make lock` writes them from pyproject.toml).
LOCKS := requirements.lock requirements-test.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCKS) 2>/dev/null | cksum | cut -d' ' -f1)
# Lock and audit tools live in their own venv, apart from the app they check.
TOOLS ?= .venv-tools
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command "make lock" --quiet
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/gatehouse

.PHONY: run test test-sqlite test-postgres test-browser lint typecheck services bench install lock audit verifier

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml $(LOCKS)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-test.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

$(TOOLS)/bin/python:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==0.13.9 pip-audit==2.10.1

## lock: re-resolve both hashed locks from pyproject.toml (keeps pinned versions that still fit)
lock: $(TOOLS)/bin/python
	$(TOOLS)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements.lock
	$(TOOLS)/bin/uv pip compile pyproject.toml --extra test -c requirements.lock $(LOCK_FLAGS) -o requirements-test.lock

## audit: pip-audit both locks; exits 2 and says so when packages could not be checked
audit: $(TOOLS)/bin/python
	$(TOOLS)/bin/python scripts/audit.py requirements.lock requirements-test.lock --pip-audit $(TOOLS)/bin/pip-audit

## run: install, migrate, load demo data, serve http://127.0.0.1:8000 with a Celery worker
# DEBUG stays off: a failing page shows the friendly error page, never settings or tracebacks.
# Another address: make run GATEHOUSE_ADDRPORT=127.0.0.1:8011
GATEHOUSE_ADDRPORT ?= 127.0.0.1:8000
run: install
	@bash scripts/system-deps.sh
	GATEHOUSE_DEMO=1 $(PY) manage.py migrate --no-input
	GATEHOUSE_DEMO=1 $(PY) manage.py demo_seed
	GATEHOUSE_DEMO=1 $(PY) manage.py serve $(GATEHOUSE_ADDRPORT)

## test: every suite, on SQLite and again on PostgreSQL, with real Redis and browser
test: install services
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-sqlite test-postgres

# SQLite: every suite but the real-worker and browser ones (pure engine tests run here only).
test-sqlite: install
	$(PY) -m pytest -p no:cacheprovider -m "not integration"

# PostgreSQL: every database suite again, plus real workers (Redis, folder broker) and the browser.
test-postgres: install
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -p no:cacheprovider --ignore=tests/unit

test-browser: install
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -p no:cacheprovider -m browser

## services: start PostgreSQL, Redis and RabbitMQ when they are installed but down; install Chromium
services:
	@bash scripts/services.sh

## verifier: rewrite tools/verify_bundle.py, the auditors' copy of registry/offline.py
verifier:
	cp registry/offline.py tools/verify_bundle.py

## lint: ruff's checks and format, then the type checker (what `make test` and CI run first)
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## typecheck: mypy with django-stubs over the apps ([tool.mypy] in pyproject.toml)
typecheck: install
	$(PY) -m mypy

bench: install
	$(PY) benchmarks/fairness.py
	$(PY) benchmarks/explain.py
	$(PY) benchmarks/upload_guards.py
	$(PY) benchmarks/startup.py
