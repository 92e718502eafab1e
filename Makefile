# make run   the app with the sandbox, on embedded PostgreSQL and Redis (or DATABASE_URL / REDIS_URL)
# make test  every test
# make lint  ruff (check and format), mypy, import-linter, makemigrations --check
# make soak  the whole stack under load and injected faults, then its invariants (docs/soak.md)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK := $(PY) -m blockster.devstack
PYTEST_ARGS ?=
TEST_WORKERS ?= auto
SOAK_ARGS ?=
# STACK_ARGS=--mirror-cluster: `make run` with the mirror on a local Redis Cluster of
# three primaries (--mirror-cluster=1: a replica each; docs/mirror.md).
STACK_ARGS ?=

.PHONY: run test lint format bench clean

# Created on first use; reinstalled whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required (found %s)" % sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(VENV)/.installed
	$(STACK) $(STACK_ARGS) run

# The browser journeys drive Chromium: installed from Debian's package on first use
# when none is found (as root with apt), otherwise named before any test runs.
test: $(VENV)/.installed
	@$(PY) -m tests.e2e.chromium
	$(STACK) exec -- $(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# 60 s of load by default, in production mode (a minter that ignores Idempotency-Key);
# SOAK_ARGS="--seconds 600" for a longer run, SOAK_ARGS="--idempotent-minter" for the
# other minter mode, SOAK_ARGS="--mirror-cluster" for the mirror on a local Redis Cluster
# with a primary killed during the load (docs/soak.md).
.PHONY: soak
soak: $(VENV)/.installed
	$(STACK) exec -- $(PY) -m bench.soak $(SOAK_ARGS)

lint: lint-fast migrations-check

# What pre-commit runs too: no database, no Redis.
.PHONY: lint-fast migrations-check
lint-fast: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy
	DEBUG=1 $(VENV)/bin/lint-imports

migrations-check: $(VENV)/.installed
	$(STACK) exec -- $(PY) manage.py makemigrations --check --dry-run

# Benchmarks: each subject against its baseline in the same run, printed as ratios.
bench: $(VENV)/.installed
	$(STACK) exec -- $(PY) -m bench.run_all $(BENCH_ARGS)

# Validates docker-compose.yml. Needs a compose: Debian's docker-compose is installed
# on first use when none is found (as root with apt); otherwise the check is skipped.
# Every profile's configuration is checked: the default stack, `cluster` (the mirror on a
# Redis Cluster) and `workers` (a worker per queue).
COMPOSE_PROFILES_CHECKED := cluster workers
.PHONY: compose-check
compose-check:
	@if docker compose version >/dev/null 2>&1; then compose="docker compose"; \
	elif command -v docker-compose >/dev/null 2>&1; then compose=docker-compose; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's docker-compose package to validate docker-compose.yml"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get update -qq \
	   && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose) >/dev/null 2>&1 \
	  || { echo "apt-get install docker-compose failed"; exit 1; }; \
	  compose=docker-compose; \
	else echo "No docker compose found (install Debian's docker-compose): compose file not checked"; exit 0; fi; \
	$$compose config --quiet || exit 1; \
	for profile in $(COMPOSE_PROFILES_CHECKED); do \
	  echo "docker-compose.yml, profile $$profile"; \
	  $$compose --profile $$profile config --quiet || exit 1; \
	done

# Runs lint-fast's checks on every commit (.pre-commit-config.yaml).
.PHONY: pre-commit
pre-commit: $(VENV)/.installed
	$(VENV)/bin/pre-commit install

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .data staticfiles
