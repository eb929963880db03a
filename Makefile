# mfairflow — every install step lives here, so a fresh machine (and CI) needs only `make`.
PYTHON ?= python3
VENV := .venv
AF2_VENV := .venv-af2
BIN := $(VENV)/bin
AIRFLOW3 := apache-airflow>=3.3,<4
AIRFLOW2 := apache-airflow==2.10.5
PROVIDERS := 'apache-airflow-providers-cncf-kubernetes>=10.5' apache-airflow-providers-amazon apache-airflow-providers-standard
# Azurite (the Azure Blob Storage emulator of the datastore tests), installed into the project.
NODE_DIR := .node
AZURITE_VERSION := 3.35.0
EXAMPLE := examples/my_flow.py
# Tests mostly wait on subprocesses (compiles, Airflow, emulators): two workers, each session
# server on one of them (tests/conftest.py: pytest_xdist_make_scheduler).
TEST_WORKERS ?= 2
OUT := out

.PHONY: install install-af2 postgresql bench-live demo demo-live airflow airflow-down test snapshots bench lint fuzz clean test-matrix

install: $(VENV)/.installed $(NODE_DIR)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[airflow,test]' '$(AIRFLOW3)'
	touch $@

# npm from Debian where the machine has none; Azurite into $(NODE_DIR), not globally.
$(NODE_DIR)/.installed:
	command -v npm >/dev/null || (apt-get update -q && apt-get install -y -q nodejs npm)
	npm install --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)
	touch $@

# PostgreSQL from Debian where the machine has no server (`mfairflow airflow up --database
# postgres`; the live tests and bench-live run on it; `make demo` stays on SQLite and needs none).
# Debian keeps initdb off PATH: look in its folder too.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		(apt-get update -q && apt-get install -y -q postgresql)

# Airflow 2.10 beside Airflow 3: the generated DAGs must load on both.
install-af2: $(AF2_VENV)/.installed

$(AF2_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(AF2_VENV)
	$(AF2_VENV)/bin/pip install -q --upgrade pip
	$(AF2_VENV)/bin/pip install -q -e '.[postgres]' '$(AIRFLOW2)' $(PROVIDERS)
	touch $@

demo: install
	$(BIN)/python scripts/demo.py $(EXAMPLE) $(OUT)

# A local Airflow 3 (api-server, scheduler, dag-processor) on 127.0.0.1 under .airflow/.
airflow: install
	$(BIN)/mfairflow airflow up

airflow-down: install
	$(BIN)/mfairflow airflow down

# Deploy the example flow to a local Airflow, trigger it, watch it, delete it, stop Airflow.
demo-live: install
	$(BIN)/python scripts/demo_live.py examples/demo_flow.py $(OUT)

test: install install-af2 postgresql
	MFAIRFLOW_AF2_PYTHON=$(AF2_VENV)/bin/python $(BIN)/pytest -q -n $(TEST_WORKERS) --durations=30

snapshots: install install-af2
	MFAIRFLOW_AF2_PYTHON=$(AF2_VENV)/bin/python $(BIN)/pytest -q tests/test_snapshots.py --snapshot-update

# The supported Airflow range, measured (not part of `make test`: each install takes minutes):
# every snapshot loads with DagBag on the oldest supported line and on a middle one, and the
# demo DAG runs end to end with `airflow dags test` on the oldest and on 2.7 (the first line
# with `db migrate`). A venv per version, .venv-af-<version>, with the newest providers that
# version accepts (pip resolves them).
MATRIX_OLDEST := 2.6.3
MATRIX_MIDDLE := 3.0.6
MATRIX_DEMO := 2.7.3
MATRIX_PROVIDERS := apache-airflow-providers-cncf-kubernetes apache-airflow-providers-amazon
# 2.6 needs pendulum<3 (pendulum 3 breaks it) and connexion<3 for its database commands; 2.6/2.7
# `db init`/`db migrate` need flask-session<0.6 (0.6 has no flask_session.sessions);
# the standard provider exists for Airflow 2.8+ only (older lines have the operators built in).
MATRIX_EXTRA_2.6.3 := 'pendulum<3' 'flask-session<0.6' 'connexion[flask]<3'
MATRIX_EXTRA_2.7.3 := 'flask-session<0.6'
MATRIX_EXTRA_3.0.6 := apache-airflow-providers-standard

.venv-af-%/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-af-$*
	.venv-af-$*/bin/pip install -q --upgrade pip
	.venv-af-$*/bin/pip install -q -e . 'apache-airflow==$*' $(MATRIX_PROVIDERS) $(MATRIX_EXTRA_$*)
	touch $@

test-matrix: install .venv-af-$(MATRIX_OLDEST)/.installed .venv-af-$(MATRIX_MIDDLE)/.installed \
		.venv-af-$(MATRIX_DEMO)/.installed
	$(BIN)/python scripts/test_matrix.py --snapshots snapshots \
		--load .venv-af-$(MATRIX_OLDEST)/bin/python --load .venv-af-$(MATRIX_MIDDLE)/bin/python \
		--demo .venv-af-$(MATRIX_OLDEST)/bin/python --demo .venv-af-$(MATRIX_DEMO)/bin/python

bench: install
	$(BIN)/python bench/run.py

# A live Airflow under load, PostgreSQL beside SQLite (tens of minutes): writes bench/live.md.
bench-live: install postgresql
	$(BIN)/python bench/live.py

fuzz: install
	MFAIRFLOW_FUZZ_EXAMPLES=2000 $(BIN)/pytest -q tests/test_hostile.py

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/black --check src tests scripts

clean:
	rm -rf $(VENV) $(AF2_VENV) .venv-af-* $(NODE_DIR) $(OUT) .pytest_cache
