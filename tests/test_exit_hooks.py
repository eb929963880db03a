"""Issue 16.3: @exit_hook as hook tasks after the end step, run end to end with `--target local`
(`airflow dags test`): the success hook runs after a successful run, the error hook after a
failed one, each with the Metaflow Run of that DAG run."""

from __future__ import annotations

import json
import subprocess

import pytest
from test_e2e_local import LocalAirflow

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    airflow = LocalAirflow(tmp_path_factory.mktemp("airflow-hooks"))
    yield airflow.deploy("exit_hook_flow.py")
    airflow.close()


def hooks_run(deployed, fail: bool, hook_fails: bool = False) -> tuple[dict, dict, str]:
    """Run the DAG; (what each hook wrote, by kind; the Metaflow run; the log)."""
    for kind in ("success", "error"):
        (deployed.flow_dir / f"hook_{kind}.json").unlink(missing_ok=True)
    _, log, _ = deployed.dags_test({"fail": fail, "hook_fails": hook_fails})
    written = {
        kind: json.loads((deployed.flow_dir / f"hook_{kind}.json").read_text())
        for kind in ("success", "error")
        if (deployed.flow_dir / f"hook_{kind}.json").exists()
    }
    return written, deployed.probe(), log


def test_the_dag_has_one_hook_task_per_function_after_end(deployed):
    source = deployed.dag_file.read_text()
    assert 'trigger_rule="all_success"' in source and 'trigger_rule="one_failed"' in source
    assert "end >> exit_hook_on_success_celebrate" in source
    assert "end >> exit_hook_on_error_mourn" in source


def test_success_hook_runs_after_a_successful_run(deployed):
    written, run, log = hooks_run(deployed, fail=False)
    assert run["successful"], log[-3000:]
    assert set(written) == {"success"}, log[-3000:]
    assert written["success"] == {
        "pathspec": run["pathspec"],
        "successful": True,
        "middle_value": 42,
    }
    assert last_dag_run_state(deployed) == "success"  # the skipped error hook leaves it green


def test_error_hook_runs_after_a_failed_step(deployed):
    written, run, log = hooks_run(deployed, fail=True)
    assert not run["successful"]
    assert "failing on purpose" in log
    assert set(written) == {"error"}, log[-3000:]
    assert written["error"]["pathspec"] == run["pathspec"]
    assert written["error"]["successful"] is False
    assert last_dag_run_state(deployed) == "failed"


def last_dag_run_state(deployed) -> str:
    """The state Airflow recorded for the DAG's newest run."""
    proc = subprocess.run(
        [deployed.airflow.airflow, "dags", "list-runs", deployed.dag_id, "-o", "json"],
        env=deployed.airflow.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Airflow may print warnings first: the JSON is the line that starts with "[{".
    line = next(line for line in proc.stdout.splitlines() if line.startswith("[{"))
    return max(json.loads(line), key=lambda run: run["run_after"])["state"]


def test_a_failing_success_hook_turns_the_dag_run_red_not_the_metaflow_run(deployed):
    written, run, log = hooks_run(deployed, fail=False, hook_fails=True)
    assert set(written) == {"success"}, log[-3000:]
    assert "the success hook fails on purpose" in log
    assert run["successful"]  # every step succeeded: the Metaflow run is successful
    assert last_dag_run_state(deployed) == "failed"
