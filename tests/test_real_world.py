"""Flows people actually write: Configs, custom start/end, @card, @catch, mutators, environments.

Each runs end to end with --target local in real Airflow 3 and is compared with the Metaflow run
or with `python flow.py run`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT
from test_e2e_local import LocalAirflow, artifacts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    airflow = LocalAirflow(tmp_path_factory.mktemp("airflow-real-world"))
    yield airflow
    airflow.close()


def run_ok(deployed, conf=None) -> dict:
    code, log, _ = deployed.dags_test(conf)
    assert code == 0, log[-5000:]
    run = deployed.probe()
    assert run["successful"], run
    return run


def test_config_values_are_resolved_at_deploy_time_and_reach_every_task(airflow, tmp_path):
    deployed = airflow.deploy("config_flow.py", extra_files=("config_flow.json",))
    source = deployed.dag_file.read_text()
    assert '"METAFLOW_FLOW_CONFIG_VALUE": \'{"cfg":"kv.cfg"}\'' in source
    assert "\nFLOW_CONFIGS = " in source
    assert '\'{"user_configs":{"cfg":[{"alpha":3' in source
    assert '"ALPHA": "3"' in source  # config_expr in @environment, resolved
    run = run_ok(deployed)
    assert run["steps"]["start"][0]["artifacts"]["alpha"] == "3"
    assert run["steps"]["start"][0]["artifacts"]["env_alpha"] == "'3'"
    assert run["steps"]["end"][0]["artifacts"]["cfg_name"] == "'prod'"
    local = deployed.probe(run_id=deployed.local_run(), namespace="-")
    assert artifacts(run) == artifacts(local)

    # A different config at deploy time changes the DAG visibly and reaches every task.
    override = deployed.flow_dir / "staging.json"
    override.write_text(json.dumps({"alpha": 7, "name": "staging", "image": "x"}))
    redeployed = airflow.deploy(
        "config_flow.py",
        extra_files=("config_flow.json",),
        top_level=("--config", "cfg", str(override)),
    )
    changed = redeployed.dag_file.read_text()
    assert '"alpha":7' in changed and '"ALPHA": "7"' in changed
    run = run_ok(redeployed)
    assert run["steps"]["start"][0]["artifacts"]["env_alpha"] == "'7'"
    assert run["steps"]["end"][0]["artifacts"]["cfg_name"] == "'staging'"


@pytest.mark.parametrize(
    "flow_file, start, end",
    [("custom_steps_flow.py", "begin", "finish"), ("single_step_flow.py", "only", "only")],
)
def test_custom_start_and_end_steps(airflow, flow_file, start, end):
    deployed = airflow.deploy(flow_file)
    source = deployed.dag_file.read_text()
    assert re.search(rf'metaflow_step\(\s*"{start}",[^)]*init_params=True', source)
    run = run_ok(deployed, conf=None)
    assert start in run["steps"] and end in run["steps"]
    local = deployed.probe(run_id=deployed.local_run(), namespace="-")
    assert artifacts(run) == artifacts(local)


def test_catch_lets_the_run_continue_and_only_the_last_attempt_catches(airflow):
    deployed = airflow.deploy("catch_flow.py")
    run = run_ok(deployed)
    assert "caught on purpose" in run["steps"]["risky"][0]["artifacts"]["failure"]
    flaky = run["steps"]["flaky"][0]["artifacts"]
    assert flaky["attempts_seen"] == "1"  # the first attempt failed and was retried
    assert "attempt 1 fails" in flaky["failure"]
    assert "end" in run["steps"]


def test_card_is_stored_where_the_client_finds_it(airflow):
    deployed = airflow.deploy("card_flow.py")
    run = run_ok(deployed)
    code = (
        "import base64, json, re, sys\n"
        "from metaflow import Task, namespace\n"
        "from metaflow.cards import get_cards\n"
        "namespace(None)\n"
        "cards = get_cards(Task(sys.argv[1]))\n"
        "html = cards[0].get()\n"
        'blob = re.search(r\'__MF_DATA__\\[[^]]+\\] = "([^"]+)"\', html).group(1)\n'
        "print(cards[0].type, json.dumps(json.loads(base64.b64decode(blob))))\n"
    )
    task = f"{run['pathspec']}/start/t-0"
    proc = subprocess.run(
        [sys.executable, "-c", code, task],
        cwd=deployed.flow_dir,
        env=airflow.env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("blank ")
    assert "# The answer is 42" in proc.stdout


def test_mutator_decorators_show_in_the_dag_and_apply(airflow):
    deployed = airflow.deploy("mutator_flow.py")
    source = deployed.dag_file.read_text()
    assert len(re.findall(r"(?<![\w])retries=2\b", source)) == 2
    assert '"MUTATED": "start"' in source and '"MUTATED": "end"' in source
    run = run_ok(deployed)
    assert run["steps"]["end"][0]["artifacts"]["seen_end"] == "'end'"


def test_conda_and_pypi_give_a_clear_error(compile_in):
    flow = ROOT / "tests" / "e2e_flows" / "linear_flow.py"
    text = (
        flow.read_text()
        .replace("from metaflow import FlowSpec, step", "from metaflow import FlowSpec, pypi, step")
        .replace(
            "    @step\n    def a(self):",
            "    @pypi(packages={'six': '1.16.0'})\n    @step\n    def a(self):",
        )
    )
    result = compile_in(flow, flow_text=text)
    assert result.proc.returncode != 0
    output = result.proc.stdout + result.proc.stderr
    assert "Traceback" not in output
    assert "pypi" in output.lower()


def test_a_dag_metaflow_generated_for_the_same_id_is_a_clash(compile_in, tmp_path):
    """Migrating from Metaflow's own compiler: its DAG file beside ours would hide one of the two.

    The stand-in has the shape of metaflow/plugins/airflow/dag.py's output (a "# Deployed on"
    line, then CONFIG as one dict literal)."""
    folder = tmp_path / "dags"
    folder.mkdir()
    old = folder / "my_flow_metaflow.py"
    old.write_text(
        "# Deployed on 2026-11-25 10:00:00.000000\n\n"
        "CONFIG = {'metadata': {'contains_foreach': False, 'flow_name': 'MyAirflowFlow'}, "
        "'states': {}, 'dag_instantiation_params': {'dag_id': 'MyAirflowFlow', "
        "'description': 'x'}, 'metaflow_params': []}\n"
    )
    result = compile_in(ROOT / "examples" / "my_flow.py", dag_name="my_dag.py")
    assert result.proc.returncode == 2, result.proc.stderr
    assert "already used by my_flow_metaflow.py (written by Metaflow's own" in result.proc.stderr
    assert not (folder / "my_dag.py").exists()
    other = compile_in(ROOT / "examples" / "my_flow.py", "--name", "Other", dag_name="my_dag.py")
    assert other.proc.returncode == 0, other.proc.stderr


def test_two_flows_with_one_dag_id_in_one_folder_are_refused(compile_in):
    first = compile_in(ROOT / "examples" / "my_flow.py", dag_name="first_dag.py")
    assert first.proc.returncode == 0
    second = compile_in(ROOT / "examples" / "my_flow.py", dag_name="second_dag.py")
    assert second.proc.returncode == 2
    assert "already used by first_dag.py" in second.proc.stderr
    assert not second.dag_path.exists()
    renamed = compile_in(
        ROOT / "examples" / "my_flow.py", "--name", "Other", dag_name="second_dag.py"
    )
    assert renamed.proc.returncode == 0, renamed.proc.stderr
