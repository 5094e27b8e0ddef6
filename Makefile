# Every target creates .venv and installs the project first, so each works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster

.PHONY: demo test test-fast test-loaded test-crash lint format ui demo-ui bench postgres chromium

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

# The UI's browser test drives Debian's headless Chromium through Playwright (which downloads no browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The tests' scratch files (warehouses, Dagster instances, sandboxes' documents) go to memory where the
# machine has a tmpfs: a Dagster run commits each of its events to SQLite, and the suite's thousands of runs
# would otherwise wait on the disk's flushes. Only the tests' temporary files; nothing else moves.
TEST_TMPDIR := $(shell test -d /dev/shm && test -w /dev/shm && echo /dev/shm)
test test-fast test-loaded test-crash: export TMPDIR := $(or $(TEST_TMPDIR),$(TMPDIR),/tmp)
# and the project's own modules keep their bytecode between the suite's hundreds of processes, even where the
# environment asks Python not to write it (PYTHONDONTWRITEBYTECODE)
test test-fast test-loaded test-crash: export PYTHONDONTWRITEBYTECODE :=

# pytest-xdist workers, each taking whole files so a module's fixtures stay in one process: one more than the
# cores, since about a third of a test's time is spent waiting on its sandbox, subprocesses and sockets.
WORKERS := $(shell echo $$(( $$(nproc) + 1 )))

test: $(STAMP) postgres chromium
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile

# The suite on a machine made slow: two CPU-bound processes per core run beside it. No outcome may
# depend on the machine's speed; this is how that is checked.
test-loaded: $(STAMP) postgres chromium
	@hogs=""; for i in $$(seq $$(( $$(nproc) * 2 ))); do yes >/dev/null & hogs="$$hogs $$!"; done; \
	trap "kill $$hogs" EXIT INT TERM; \
	echo "the suite beside $$(( $$(nproc) * 2 )) CPU-bound processes"; \
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile

# The edit-test loop: everything but the slow tests (whole syncs, campaigns, the browser), in about a minute.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile -m "not slow and not crash"

# ruff's lint and format check (pyproject.toml), and no `noqa` without its reason on the same line.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@! grep -rnE --include=*.py '# noqa(: *[A-Z]+[0-9]+(, *[A-Z]+[0-9]+)*)? *$$' pipelines assets sql tests benchmarks \
		|| { echo "a noqa needs its reason after it on the same line: # noqa: RULE - why"; exit 1; }

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-crash: $(STAMP)
	$(BIN)/python -m pytest -q -m crash

# Dagster's UI on $$AMAZON_ORDERS_DB (default data/warehouse.duckdb); Ctrl-C stops it with all its processes.
ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/amazon-orders ui

# The UI on the demo's warehouse (made first if missing), with a live sandbox for its channel.
demo-ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	@test -f data/demo.duckdb || $(BIN)/amazon-orders --db data/demo.duckdb demo
	$(BIN)/amazon-orders --db data/demo.duckdb ui

bench: $(STAMP)
	$(BIN)/python -m benchmarks
