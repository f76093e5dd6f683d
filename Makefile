# Two commands do all the set-up on a fresh machine:
#   make demo   build the example project into DuckDB, start the sandbox, push, show what happened
#   make test   the whole test suite, on DuckDB and on a throw-away PostgreSQL (what CI runs)
#   make soak   the model-based test of push sequences, long profile (about an hour)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test soak postgres bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(PY) scripts/demo.py

test: $(VENV)/.installed
	bash scripts/test_postgres.sh run $(PY) -m pytest -q

# the model-based test of push sequences, with its long profile (hundreds of random sequences)
soak: $(VENV)/.installed
	REVSYNC_SOAK=1 $(PY) -m pytest -q -p no:cacheprovider --hypothesis-show-statistics tests/integration/test_sequences.py -k push_sequences

postgres:
	bash scripts/test_postgres.sh start

bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache example_project/target example_project/logs
