# Two commands do all the set-up on a fresh machine:
#   make demo   build the example project into DuckDB, start the sandbox, push, show what happened
#   make test   the whole test suite, on DuckDB and on a throw-away PostgreSQL (what CI runs),
#               after the lint gates (ruff check, ruff format --check, mypy: scripts/lint.sh),
#               the dbt-core 1.12 import check and the floor leg (the lowest dbt allowed)
#   make soak   the model-based test of push sequences, long profile (about an hour)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint soak postgres bench clean dbt-next floor

# constraints.txt keeps this project's own install below dbt-core 1.12 (see pyproject.toml).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,dialects,fakesnow,spark]'
	touch $@

demo: $(VENV)/.installed
	$(PY) scripts/demo.py

test: $(VENV)/.installed
	bash scripts/lint.sh $(PY)
	$(PY) scripts/check_dbt_internals.py
	bash scripts/floor_leg.sh
	bash scripts/test_tools.sh
# the dialect check loads every warehouse's adapter (Snowflake, BigQuery, Databricks, ...):
# in a process of its own, so the end-to-end tests do not open dbt beside all those modules
	bash scripts/test_postgres.sh run sh -c '$(PY) -m pytest -q --ignore=tests/dialects && $(PY) -m pytest -q tests/dialects'

# the model-based test of push sequences, with its long profile (hundreds of random sequences)
soak: $(VENV)/.installed
	REVSYNC_SOAK=1 $(PY) -m pytest -q -p no:cacheprovider --hypothesis-show-statistics tests/integration/test_sequences.py -k push_sequences

# ruff check, ruff format --check and mypy dbt_revsync (configured in pyproject.toml)
lint: $(VENV)/.installed
	bash scripts/lint.sh $(PY)

postgres:
	bash scripts/test_postgres.sh start

# dbt-core 1.12: every dbt internal dbt-revsync imports exists in its wheel (downloaded alone)
dbt-next: $(VENV)/.installed
	$(PY) scripts/check_dbt_internals.py

# the lowest dbt-core and dbt-duckdb the pin allows: build the example project, push once
floor:
	bash scripts/floor_leg.sh

bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .venv-floor .pytest_cache example_project/target example_project/logs
