"""Smoke test on a live Airflow 2.10 (the second virtualenv): /api/v1 with basic auth.

Started by the same code as `mfairflow airflow up`, run from the Airflow 2.10 virtualenv
(webserver + scheduler, LocalExecutor on PostgreSQL); deploy, trigger, success.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT, clean_env, free_port

pytestmark = [pytest.mark.live, pytest.mark.airflow2]

AF2_PYTHON = os.path.abspath(
    os.environ.get("MFAIRFLOW_AF2_PYTHON", str(ROOT / ".venv-af2" / "bin" / "python"))
)


def mfairflow_af2(*args: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AF2_PYTHON, "-m", "mfairflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_airflow2_deploy_trigger_success(tmp_path):
    base = tmp_path
    (base / ".metaflow").mkdir()
    home = base / "airflow"
    env = clean_env(base, {"METAFLOW_DEFAULT_DATASTORE": "local"})
    env.pop("METAFLOW_DATASTORE_SYSROOT_S3", None)
    up = mfairflow_af2(
        "airflow",
        "up",
        "--home",
        str(home),
        "--port",
        str(free_port()),
        "--database",
        "postgres",
        env=env,
    )
    recorded = None
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        exports = dict(  # `export KEY=WORD`, WORD a shell word
            shlex.split(line)[1].split("=", 1)
            for line in up.stdout.splitlines()
            if line.startswith("export ")
        )
        recorded = json.loads((home / "mfairflow-airflow.json").read_text())
        assert recorded["database"] == "postgres"
        env.update(exports)
        flow_dir = base / "linear"
        flow_dir.mkdir()
        shutil.copy(ROOT / "tests" / "e2e_flows" / "linear_flow.py", flow_dir)
        create = subprocess.run(
            [AF2_PYTHON, "linear_flow.py", "airflow", "create", "--target", "local"],
            cwd=flow_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert create.returncode == 0, create.stdout + create.stderr
        assert (Path(exports["METAFLOW_AIRFLOW_DAGS_FOLDER"]) / "LinearFlow.py").exists()
        trigger = subprocess.run(
            [AF2_PYTHON, "linear_flow.py", "airflow", "trigger", "--run-id-file", "rid"],
            cwd=flow_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert trigger.returncode == 0, trigger.stdout + trigger.stderr
        run_id = (flow_dir / "rid").read_text().strip()
        deadline = time.monotonic() + 420
        state = None
        while time.monotonic() < deadline:
            status = subprocess.run(
                [AF2_PYTHON, "linear_flow.py", "airflow", "status", run_id],
                cwd=flow_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert status.returncode == 0, status.stderr
            state = status.stdout.strip().splitlines()[-1]
            if state in ("Succeeded", "Failed"):
                break
            time.sleep(5)
        assert state == "Succeeded"
        probe = subprocess.run(
            [AF2_PYTHON, str(ROOT / "tests" / "metaflow_probe.py"), "-", "LinearFlow", run_id],
            cwd=flow_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout)["steps"]["end"][0]["artifacts"]["total"] == "44"
        assert_datasets_trigger(base, env, run_id)
        assert_resume_and_clear(base, env)
    finally:
        down = mfairflow_af2("airflow", "down", "--home", str(home), env=env)
        assert down.returncode == 0, down.stderr
    for rec in recorded["pids"].values():  # PostgreSQL included
        assert (
            not Path(f"/proc/{rec['pid']}").exists()
            or "Z" in Path(f"/proc/{rec['pid']}/stat").read_text()
        )


def assert_datasets_trigger(base: Path, env: dict, linear_run: str) -> None:
    """Issue 16 on Airflow 2's Datasets: LinearFlow's finish is a Dataset event naming its run,
    and an event published through /api/v1 starts EventFlow with the parameters it maps."""
    flow_dir = base / "event"
    flow_dir.mkdir()
    shutil.copy(ROOT / "tests" / "e2e_flows" / "event_flow.py", flow_dir)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [AF2_PYTHON, "event_flow.py", "airflow", *args],
            cwd=flow_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    create = run("create", "--target", "local")
    assert create.returncode == 0, create.stdout + create.stderr
    published = run("publish-event", "mfairflow.test.ready", "--payload", '{"value": 5}')
    assert published.returncode == 0, published.stdout + published.stderr
    probe = [
        AF2_PYTHON,
        "-c",
        "import json, sys, time\n"
        "from mfairflow.live.client import AirflowClient, config_from_metaflow\n"
        "c = AirflowClient(config_from_metaflow())\n"
        "for _ in range(140):\n"
        "    runs = c.list_runs('EventFlow')\n"
        "    if runs and runs[0]['state'] in ('success', 'failed'):\n"
        "        break\n"
        "    time.sleep(3)\n"
        "events = c.request('GET', '/datasets/events').json()['dataset_events']\n"
        "print(json.dumps({'runs': runs, 'events': events}))\n",
    ]
    proc = subprocess.run(probe, cwd=flow_dir, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["runs"] and found["runs"][0]["state"] == "success", found["runs"]
    assert found["runs"][0]["run_type"] == "dataset_triggered", found["runs"][0]
    finished = [e for e in found["events"] if e["dataset_uri"] == "metaflow.LinearFlow.end"]
    assert [e["extra"]["pathspec"] for e in finished] == [f"LinearFlow/{linear_run}/end/t-0"]
    read = subprocess.run(
        [
            AF2_PYTHON,
            "-c",
            "from metaflow import Flow, namespace; namespace(None); "
            "r = Flow('EventFlow').latest_run; print(r.data.got, r.data.event_name)",
        ],
        cwd=flow_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert read.stdout.strip() == "[5, 'none', 'untouched'] mfairflow.test.ready", read.stderr


AF2_CLIENT = (
    "import json, sys, time\n"
    "from mfairflow.live.client import AirflowClient, config_from_metaflow\n"
    "from mfairflow.live.commands import find_run\n"
    "c = AirflowClient(config_from_metaflow())\n"
)
WAIT_RUN = AF2_CLIENT + (
    "dag, run = sys.argv[1], find_run(c, sys.argv[1], sys.argv[2])['dag_run_id']\n"
    "if len(sys.argv) > 3:\n"
    "    body = {'dag_run_id': run, 'task_ids': [sys.argv[3]], 'only_failed': True,\n"
    "            'include_downstream': True, 'reset_dag_runs': True, 'dry_run': False}\n"
    "    c.request('POST', f'/dags/{dag}/clearTaskInstances', json=body)\n"
    "    time.sleep(3)\n"
    "for _ in range(200):\n"
    "    state = c.get_run(dag, run)['state']\n"
    "    if state in ('success', 'failed'):\n"
    "        break\n"
    "    time.sleep(3)\n"
    "print(state)\n"
)
READ_RESUMED = (
    "import sys; from metaflow import Run, namespace; namespace(None)\n"
    "r = Run(sys.argv[1])\n"
    "start = r['start'].task\n"
    "print(r.successful, r.origin_pathspec, start.id, start.metadata_dict.get('origin-task-id'),"
    " r['process'].task.data.seen)\n"
)


def assert_resume_and_clear(base: Path, env: dict) -> None:
    """Issue 22 on Airflow 2.10 (/api/v1): a failed task cleared after its cause is fixed
    completes the same run; a failed run resumed with a new parameter copies its start step
    and runs the rest."""
    flows = {}
    for name in ("outage_flow.py", "resume_flow.py"):
        flows[name] = base / name[:-3]
        flows[name].mkdir()
        shutil.copy(ROOT / "tests" / "e2e_flows" / name, flows[name])
    (flows["outage_flow.py"] / "service_state").write_text("down\n")

    def run(name: str, *args: str, python: tuple = ()) -> subprocess.CompletedProcess:
        command = [AF2_PYTHON, *python] if python else [AF2_PYTHON, name, "airflow"]
        return subprocess.run(
            [*command, *args],
            cwd=flows[name],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    runs = {}
    options = {"outage_flow.py": (), "resume_flow.py": ("--should_fail", "True")}
    for name in flows:
        create = run(name, "create", "--target", "local")
        assert create.returncode == 0, create.stdout + create.stderr
        trigger = run(name, "trigger", "--run-id-file", "rid", *options[name])
        assert trigger.returncode == 0, trigger.stdout + trigger.stderr
        runs[name] = (flows[name] / "rid").read_text().strip()
    wait = ("-c", WAIT_RUN)
    down = run("outage_flow.py", python=(*wait, "OutageFlow", runs["outage_flow.py"]))
    assert down.stdout.strip() == "failed", down.stdout + down.stderr
    failed = run("resume_flow.py", python=(*wait, "ResumeFlow", runs["resume_flow.py"]))
    assert failed.stdout.strip() == "failed", failed.stdout + failed.stderr
    (flows["outage_flow.py"] / "service_state").write_text("up\n")
    resumed = run(
        "resume_flow.py",
        "resume",
        "--origin-run-id",
        runs["resume_flow.py"],
        "--should_fail",
        "False",
        "--run-id-file",
        "resumed",
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    cleared = run("outage_flow.py", python=(*wait, "OutageFlow", runs["outage_flow.py"], "fetch"))
    assert cleared.stdout.strip() == "success", cleared.stdout + cleared.stderr
    status = run("outage_flow.py", "status", runs["outage_flow.py"])
    assert status.stdout.strip().splitlines()[-1] == "Succeeded", status.stdout + status.stderr
    new_run = (flows["resume_flow.py"] / "resumed").read_text().strip()
    done = run("resume_flow.py", python=(*wait, "ResumeFlow", new_run))
    assert done.stdout.strip() == "success", done.stdout + done.stderr
    read = run("resume_flow.py", python=("-c", READ_RESUMED, f"ResumeFlow/{new_run}"))
    origin = f"ResumeFlow/{runs['resume_flow.py']}"
    assert read.stdout.split() == [
        "True",
        origin,
        "r1-0",
        "t-0",
        "(False,",
        "'plain')",
    ], read.stderr
