# mfairflow — every install step lives here, so a fresh machine (and CI) needs only `make`.
PYTHON ?= python3
VENV := .venv
AF2_VENV := .venv-af2
BIN := $(VENV)/bin
AIRFLOW3 := apache-airflow>=3.3,<4
AIRFLOW2 := apache-airflow==2.10.5
PROVIDERS := 'apache-airflow-providers-cncf-kubernetes>=10.5' apache-airflow-providers-amazon apache-airflow-providers-standard
EXAMPLE := examples/my_flow.py
OUT := out

.PHONY: install install-af2 demo demo-live airflow airflow-down test snapshots bench lint fuzz clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[airflow,test]' '$(AIRFLOW3)'
	touch $@

# Airflow 2.10 beside Airflow 3: the generated DAGs must load on both.
install-af2: $(AF2_VENV)/.installed

$(AF2_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(AF2_VENV)
	$(AF2_VENV)/bin/pip install -q --upgrade pip
	$(AF2_VENV)/bin/pip install -q -e . '$(AIRFLOW2)' $(PROVIDERS)
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

test: install install-af2
	MFAIRFLOW_AF2_PYTHON=$(AF2_VENV)/bin/python $(BIN)/pytest -q

snapshots: install install-af2
	MFAIRFLOW_AF2_PYTHON=$(AF2_VENV)/bin/python $(BIN)/pytest -q tests/test_snapshots.py --snapshot-update

bench: install
	$(BIN)/python bench/run.py

fuzz: install
	MFAIRFLOW_FUZZ_EXAMPLES=2000 $(BIN)/pytest -q tests/test_hostile.py

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/black --check src tests scripts

clean:
	rm -rf $(VENV) $(AF2_VENV) $(OUT) .pytest_cache
