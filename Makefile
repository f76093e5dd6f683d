# Two commands do all the set-up on a fresh machine:
#   make demo   build the example project into DuckDB, start the sandbox, push, show what happened
#   make test   the whole test suite, on DuckDB and on a throw-away PostgreSQL (what CI runs)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test postgres bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(PY) scripts/demo.py

test: $(VENV)/.installed
	bash scripts/test_postgres.sh run $(PY) -m pytest -q

postgres:
	bash scripts/test_postgres.sh start

bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache example_project/target example_project/logs
