"""Real-world flows and the graph shapes beyond the guide: golden files, and DagBag loads on
Airflow 3 and Airflow 2.10 (Configs, custom start/end, @card, @catch, mutators, multi-step and
nested foreach bodies, conditional steps)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, compile_flow
from test_snapshots import SNAPSHOT_ENV, portable

E2E = ROOT / "tests" / "e2e_flows"
PROBE = ROOT / "tests" / "airflow_probe.py"
FLOWS = {
    "ConfigFlow": "config_flow",
    "CustomStepsFlow": "custom_steps_flow",
    "SingleStepFlow": "single_step_flow",
    "CatchFlow": "catch_flow",
    "CardFlow": "card_flow",
    "MutatorFlow": "mutator_flow",
    "MultiBodyFlow": "multi_body_flow",
    "NestedForeachFlow": "nested_foreach_flow",
    "SwitchFlow": "switch_flow",
}
EXTRA_FILES = {"config_flow": ("config_flow.json",)}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real-world")
    results = {}
    for dag_id, stem in FLOWS.items():
        flow_dir = tmp / f"flow_{stem}"
        flow_dir.mkdir()
        for extra in EXTRA_FILES.get(stem, ()):
            shutil.copy(E2E / extra, flow_dir / extra)
        result = compile_flow(E2E / f"{stem}.py", tmp, env=SNAPSHOT_ENV)
        assert result.proc.returncode == 0, f"{stem}: {result.proc.stderr[-3000:]}"
        results[dag_id] = result
    return results


@pytest.mark.parametrize("dag_id", list(FLOWS))
def test_golden_file(compiled, snapshot, dag_id):
    snapshot.snapshot_dir = ROOT / "snapshots" / "real_world"
    snapshot.assert_match(portable(compiled[dag_id].source), f"{FLOWS[dag_id]}_dag.py")


@pytest.fixture(scope="module")
def reports(compiled, tmp_path_factory):
    folder = tmp_path_factory.mktemp("real-world-dags")
    for dag_id, result in compiled.items():
        shutil.copy(result.dag_path, folder / f"{FLOWS[dag_id]}_dag.py")
    af2 = os.environ.get("MFAIRFLOW_AF2_PYTHON")
    assert af2, "MFAIRFLOW_AF2_PYTHON must name the Airflow 2.10 python (make install-af2)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "METAFLOW_"))}
    out = {}
    for version, python in (("airflow3", sys.executable), ("airflow2", af2)):
        proc = subprocess.run(
            [python, str(PROBE), str(folder)], capture_output=True, text=True, env=env, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[version] = json.loads(proc.stdout)
    return out


both = pytest.mark.parametrize("version", ["airflow3", "airflow2"])


@both
def test_every_dag_loads(reports, version):
    report = reports[version]
    assert report["import_errors"] == {}
    assert set(report["dags"]) == set(FLOWS)


@both
def test_custom_start_and_end_steps_name_the_tasks(reports, version):
    dags = reports[version]["dags"]
    assert set(dags["CustomStepsFlow"]["tasks"]) == {"begin", "middle", "finish"}
    assert set(dags["SingleStepFlow"]["tasks"]) == {"only"}


@both
def test_catch_and_mutators_set_retries(reports, version):
    dags = reports[version]["dags"]
    catch = dags["CatchFlow"]["tasks"]
    # As Metaflow's own runtime: user-code retries (@retry) + error retries (@catch's fallback,
    # NUM_FALLBACK_RETRIES = 3) are Airflow's retries; --max-user-code-retries is the first.
    assert catch["flaky"]["retries"] == 1 + 3
    assert catch["risky"]["retries"] == 0 + 3
    mutated = dags["MutatorFlow"]["tasks"]
    assert mutated["start"]["retries"] == 2 and mutated["end"]["retries"] == 2
    assert mutated["start"]["env_vars"]["MUTATED"] == "start"


@both
def test_config_values_reach_every_task(reports, version):
    tasks = reports[version]["dags"]["ConfigFlow"]["tasks"]
    for task in tasks.values():
        assert json.loads(task["env_vars"]["METAFLOW_FLOW_CONFIG_VALUE"]) == {"cfg": "kv.cfg"}
        # The values come from the code package's CONFIG file (test_pod_contract runs it),
        # not from the pod's environment or command line.
        assert "MFAIRFLOW_FLOW_CONFIGS" not in task["env_vars"]
        assert "prod" not in json.dumps(task["env_vars"]) and "prod" not in task["cmds"][2]
    assert tasks["start"]["env_vars"]["ALPHA"] == "3"


@both
def test_every_body_step_is_mapped(reports, version):
    tasks = reports[version]["dags"]["MultiBodyFlow"]["tasks"]
    assert [t for t in ("first", "second", "third") if tasks[t]["is_mapped"]] == [
        "first",
        "second",
        "third",
    ]
    assert not tasks["join"]["is_mapped"]


@both
def test_nested_foreach_is_flattened(reports, version):
    tasks = reports[version]["dags"]["NestedForeachFlow"]["tasks"]
    assert tasks["per_letter_splits"]["operator"] == "PythonOperator"
    assert tasks["per_number_splits"]["upstream"] == ["per_number"]
    assert tasks["per_sign"]["upstream"] == ["per_number_splits"]
    mapped = {name for name, task in tasks.items() if task["is_mapped"]}
    assert mapped == {
        "per_letter",
        "per_number",
        "per_sign",
        "join_signs",
        "after_signs",
        "join_numbers",
    }


@both
def test_switch_branches_and_merge_trigger_rule(reports, version):
    tasks = reports[version]["dags"]["SwitchFlow"]["tasks"]
    assert tasks["start_choice"]["operator"] == "BranchPythonOperator"
    assert tasks["start_choice"]["downstream"] == ["fast", "slow"]
    assert tasks["merge"]["upstream"] == ["fast", "slow2"]
    assert tasks["merge"]["trigger_rule"] == "none_failed_min_one_success"
