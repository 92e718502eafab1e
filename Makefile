# make run   the app with the sandbox, on embedded PostgreSQL and Redis (or DATABASE_URL / REDIS_URL)
# make test  every test
# make lint  ruff check, ruff format --check, makemigrations --check
# make soak  the whole stack under load and injected faults, then its invariants (docs/soak.md)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK := $(PY) -m blockster.devstack
PYTEST_ARGS ?=
TEST_WORKERS ?= auto
SOAK_ARGS ?=

.PHONY: run test lint format bench clean

# Created on first use; reinstalled whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required (found %s)" % sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(VENV)/.installed
	$(STACK) run

test: $(VENV)/.installed
	$(STACK) exec -- $(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# 60 s of load by default; SOAK_ARGS="--seconds 600" for a longer run.
.PHONY: soak
soak: $(VENV)/.installed
	$(STACK) exec -- $(PY) bench/soak.py $(SOAK_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(STACK) exec -- $(PY) manage.py makemigrations --check --dry-run

# Benchmarks: each subject against its baseline in the same run, printed as ratios.
bench: $(VENV)/.installed
	$(STACK) exec -- $(PY) bench/run_all.py $(BENCH_ARGS)

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .data staticfiles
