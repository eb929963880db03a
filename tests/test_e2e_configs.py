"""Metaflow Configs in every form, end to end in Airflow 3 with --target local (issue 13.8).

A Config is not an Airflow param: it is resolved when the DAG is compiled (``--config``,
``--config-value``, a ``default=`` file, ``default_value=`` as a dict, JSON text or a function,
a custom ``parser=``, ``plain=True``) and reaches every task already parsed, as Metaflow hands
configs to its Argo Workflows tasks: METAFLOW_FLOW_CONFIG_VALUE names each ``kv.<name>`` and
the task reads the values from ``--local-config-file`` (written from the DAG's FLOW_CONFIGS; on
the kubernetes target from the code package's CONFIG file), never running the parser again (so a
TOML file or a custom text format works); a decorator argument written with ``config_expr``
is resolved then too. Before, a Config with
``default_value=`` was rejected ("declared str but its default ... is a dict") and a file Config
became an Airflow param holding the file's name.
"""

from __future__ import annotations

import ast
import json
import re

import pytest
from test_e2e_local import LocalAirflow

pytestmark = pytest.mark.e2e

DEFAULTS = {
    "file_cfg": {"delta": 4, "name": "file"},
    "dict_cfg": {"alpha": 1, "nested": {"names": ["a", "b"]}},
    "json_cfg": {"beta": "two"},
    "fn_cfg": {"flow": "ConfigFormsFlow", "config": "fn_cfg"},
    "parsed_cfg": {"gamma": 3, "label": "parsed"},
    "plain_cfg": "just text",
    "toml_cfg": {"model": {"name": "toml", "layers": [1, 2]}},
    "lines_cfg": {"mode": "fast", "odd": "{{ x }} 'q' $(id) a\x00b"},  # Jinja, shell, NUL
}
FILES = ("config_forms.json", "config_forms.toml")


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    airflow = LocalAirflow(tmp_path_factory.mktemp("airflow-configs"))
    yield airflow
    airflow.close()


def seen(run: dict) -> dict:
    """step → the configs its task saw (the flow's snapshot artifacts)."""
    steps = run["steps"]
    return {
        step: ast.literal_eval(steps[step][0]["artifacts"][f"seen_{step}"])
        for step in ("start", "decorated", "end")
    }


def run_ok(deployed) -> dict:
    code, log, _ = deployed.dags_test()
    assert code == 0, log[-5000:]
    run = deployed.probe()
    assert run["successful"], run
    return run


def test_every_config_form_reaches_every_task(airflow):
    deployed = airflow.deploy("config_forms_flow.py", extra_files=FILES)
    source = deployed.dag_file.read_text()
    assert "params={}" in source  # no Config became an Airflow param
    assert "METAFLOW_INIT_" not in source
    assert '"GAMMA": "3"' in source  # config_expr in @environment, resolved at deploy time
    refs = re.search(r'"METAFLOW_FLOW_CONFIG_VALUE": \'(.*)\',', source).group(1)
    assert json.loads(refs) == {name: f"kv.{name}" for name in DEFAULTS}  # no text to parse
    assert "\nFLOW_CONFIGS = " in source  # the parsed values, for the reviewer
    run = run_ok(deployed)
    assert seen(run) == {step: DEFAULTS for step in ("start", "decorated", "end")}
    assert run["steps"]["decorated"][0]["artifacts"]["gamma_env"] == "'3'"
    local = deployed.probe(run_id=deployed.local_run(), namespace="-")
    assert seen(local) == seen(run)


def test_configs_given_at_deploy_time_win_over_the_defaults(airflow):
    deployed = airflow.deploy("config_forms_flow.py", extra_files=FILES)
    other = deployed.flow_dir / "other.json"
    other.write_text(json.dumps({"delta": 9, "name": "other"}))
    redeployed = airflow.deploy(
        "config_forms_flow.py",
        extra_files=FILES,
        top_level=(
            "--config",
            "file_cfg",
            str(other),
            "--config-value",
            "json_cfg",
            '{"beta": "three"}',
            "--config-value",
            "parsed_cfg",
            "gamma: 5\nlabel: given\n",
        ),
    )
    assert '"GAMMA": "5"' in redeployed.dag_file.read_text()
    expected = {
        **DEFAULTS,
        "file_cfg": {"delta": 9, "name": "other"},
        "json_cfg": {"beta": "three"},
        "parsed_cfg": {"gamma": 5, "label": "given"},
    }
    run = run_ok(redeployed)
    assert seen(run) == {step: expected for step in ("start", "decorated", "end")}
    assert run["steps"]["decorated"][0]["artifacts"]["gamma_env"] == "'5'"


def test_a_config_of_300_kb_reaches_every_task(airflow):
    # More than a process environment string holds (128 KiB): it used to travel in
    # MFAIRFLOW_FLOW_CONFIGS, and every task died with "Argument list too long" (issue 21).
    deployed = airflow.deploy("big_config_flow.py")
    source = deployed.dag_file.read_text()
    assert "FLOW_CONFIGS = " in source and "MFAIRFLOW_FLOW_CONFIGS" not in source
    run = run_ok(deployed)
    end = run["steps"]["end"][0]["artifacts"]
    assert (end["count"], end["ok"]) == ("3400", "True")
    local = deployed.probe(run_id=deployed.local_run(), namespace="-")
    assert local["steps"]["end"][0]["artifacts"]["digest"] == end["digest"]
