# Every target creates .venv and installs the project first, so each works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster

.PHONY: demo test test-crash ui bench postgres

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,scale]'
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	ln -sf $(CURDIR)/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/amazon-orders --db data/demo.duckdb demo

# The scale-out test runs Dagster on a local PostgreSQL server: Debian's package, installed once.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

test: $(STAMP) postgres
	$(BIN)/python -m pytest -q

test-crash: $(STAMP)
	$(BIN)/python -m pytest -q -m crash

ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	AMAZON_ORDERS_DB=$${AMAZON_ORDERS_DB:-$(CURDIR)/data/warehouse.duckdb} $(BIN)/dagster dev -m pipelines.definitions

bench: $(STAMP)
	$(BIN)/python -m benchmarks
