# Cosmo: `make run` serves the API on the embedded default (SQLite + local disk);
# `make test` runs the whole suite against SQLite and PostgreSQL.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
SQLITE_URL := sqlite:///$(CURDIR)/var/cosmo.sqlite3
# `make run DEBUG=1` opts in to Django's debug mode; the default serves as production would.
DEBUG ?= 0

.PHONY: local-env run serve test test-unit test-sqlite test-postgres schemathesis soak lint bench postgres migrate clean chromium admin-screenshot

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Local SECRET_KEY, COSMO_AUDIT_KEY and COSMO_AUDIT_SIGNING_KEY (checkpoints), made once in
# var/local.env (an older file gets the signing key added); the server and every manage.py command read them.
local-env: $(STAMP)
	$(BIN)/python -m infrastructure.local_env

migrate: $(STAMP) local-env
	$(BIN)/python manage.py migrate --no-input

run: migrate
	@echo
	@echo "Cosmo is starting on http://$(HOST):$(PORT) (database: $${DATABASE_URL:-sqlite:///var/cosmo.sqlite3})"
	@echo "  Swagger UI:   http://$(HOST):$(PORT)/api/docs"
	@echo "  Make a user:  $(BIN)/python manage.py createuser NAME --org ORG --role manager|auditor|admin"
	@echo "                (asks for the password; add --password-stdin to pipe it in)"
	@echo
	DEBUG=$(DEBUG) $(BIN)/python manage.py serve $(HOST):$(PORT)

# The production profile (docs/operations.md): gunicorn (infrastructure/gunicorn_config.py) and
# run_workers as separate processes under honcho (Procfile), DEBUG off, configured by the environment,
# .env and var/local.env; Ctrl-C or SIGTERM stops both. Honcho reads no .env itself (-e /dev/null):
# the settings do, below the environment.
serve: migrate
	DEBUG=0 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho --env /dev/null start

postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; \
		echo "PostgreSQL is not answering on 127.0.0.1:5432"; exit 1

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-sqlite: $(STAMP) chromium
	mkdir -p var/test-sqlite
	COSMO_VAR_DIR=$(CURDIR)/var/test-sqlite DATABASE_URL=sqlite:///$(CURDIR)/var/test-sqlite/cosmo.sqlite3 \
		$(BIN)/pytest tests/integration tests/api tests/security tests/faults

test-postgres: $(STAMP) postgres
	mkdir -p var/test-postgres
	COSMO_VAR_DIR=$(CURDIR)/var/test-postgres DATABASE_URL=$(TEST_POSTGRES_URL) \
		$(BIN)/pytest tests/integration tests/api tests/security tests/faults

# The two database suites run side by side (much of their time is spent waiting on servers,
# workers and the databases, not on the CPU), each with its own var directory; -O prints each
# suite's output whole when it ends.
test: lint test-unit
	$(MAKE) --no-print-directory -j2 -O test-sqlite test-postgres

# The fuzzer alone, on both databases (make test runs it with the API suite): tests/api/test_schemathesis.py.
schemathesis: $(STAMP) postgres
	mkdir -p var
	DATABASE_URL=$(SQLITE_URL) $(BIN)/pytest tests/api/test_schemathesis.py
	DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest tests/api/test_schemathesis.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

bench: $(STAMP) postgres
	mkdir -p var
	$(BIN)/python -m tools.bench $(BENCH_ARGS)
	$(BIN)/python -m tools.bench.merkle_log
	$(BIN)/python -m tools.bench.personal_data

# A bounded soak (mixed reads, writes, uploads over gunicorn + run_workers, loopback only) on both
# databases, printing its figures (SOAK {...}); make test runs a 30 s version. SOAK_SECONDS to change.
SOAK_SECONDS ?= 180
soak: $(STAMP) postgres
	mkdir -p var
	COSMO_SOAK_SECONDS=$(SOAK_SECONDS) DATABASE_URL=$(SQLITE_URL) $(BIN)/pytest -q -s tests/faults/test_soak.py
	COSMO_SOAK_SECONDS=$(SOAK_SECONDS) DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest -q -s tests/faults/test_soak.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis

# The admin's browser test (tests/api/test_admin_browser.py, in the SQLite suite) drives Debian's
# chromium through its chromedriver; installed once when missing (CI runs as root on a fresh machine).
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# Refreshes docs/admin-property.png, the README's picture of the admin, with the browser test.
admin-screenshot: $(STAMP) chromium
	mkdir -p var/test-sqlite
	COSMO_VAR_DIR=$(CURDIR)/var/test-sqlite DATABASE_URL=sqlite:///$(CURDIR)/var/test-sqlite/cosmo.sqlite3 \
		COSMO_ADMIN_SCREENSHOT=$(CURDIR)/docs/admin-property.png $(BIN)/pytest -q tests/api/test_admin_browser.py
