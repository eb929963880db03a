"""Faults on the session's live Airflow (PostgreSQL), each a real kill (issue 22.3).

The scheduler and the api-server killed with SIGKILL under a running foreach: `mfairflow airflow
up` on the same home restarts only those two, a client waiting on the run (the Deployer's
`wait_for_completion`, `airflow status`) goes on after the restart, and the run finishes with
every split once. A task's own processes killed mid-step: Airflow notices within its (local,
short) heartbeat timeout and retries it, and the Metaflow run says so. After the module of the
other live tests, on a quiet Airflow: the flows are small.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_live_airflow3 import cli, client, place, probe, wait_run

pytestmark = pytest.mark.live

FLOW = "slow_foreach_flow.py"
FLOW_NAME = "SlowForeachFlow"


def deploy(live, name: str) -> Path:
    flow = place(live, FLOW, name)
    proc = cli(live, flow, "airflow", "--name", name, "create", "--target", "local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return flow


def trigger(live, flow: Path, name: str, *args: str) -> str:
    proc = cli(live, flow, "airflow", "--name", name, "trigger", "--run-id-file", "run_id", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return (flow.parent / "run_id").read_text().strip()


def task_instances(live, dag_id: str, task_id: str) -> list:
    c = client(live)
    run = c.list_runs(dag_id)[0]["dag_run_id"]
    tis = c.request(
        "GET", f"/dags/{dag_id}/dagRuns/{run}/taskInstances", params={"limit": 100}
    ).json()["task_instances"]
    return [ti for ti in tis if ti["task_id"] == task_id]


def step_processes(flow: Path, step: str, run_id: str) -> list:
    """Pids of the Metaflow step processes `python flow.py ... step STEP` of this run."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [w.decode(errors="replace") for w in words]
        if text[:2] == ["python", flow.name] and "step" in text and step in text:
            if any(run_id in w for w in text):
                found.append(int(entry.name))
    return found


def wait_for(predicate, timeout: float, what: str, pause: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(pause)
    raise AssertionError(f"{what} within {timeout} s")


def parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def state_of(home: Path) -> dict:
    return json.loads((home / "mfairflow-airflow.json").read_text())


def mfairflow(*args: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mfairflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


WAITER = """
import sys
from metaflow.runner.deployer import DeployedFlow

run = DeployedFlow.from_airflow(sys.argv[1]).get_triggered_run(sys.argv[1], sys.argv[2])
run.wait_for_completion(check_interval=1, timeout=900)
print(run.status)
"""


def test_scheduler_and_api_server_killed_then_up_restarts_them(live_airflow):
    live = live_airflow
    home = live.instance.home
    name = "faults_restart"
    flow = deploy(live, name)
    run_id = trigger(live, flow, name, "--seconds", "25", "--width", "3")
    wait_for(
        lambda: len(step_processes(flow, "body", run_id)) == 3, 300, "three splits did not run"
    )
    # A Deployer client waits on the run through the restart.
    waiter = subprocess.Popen(
        [sys.executable, "-c", WAITER, name, run_id],
        cwd=flow.parent,
        env=live.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    before = state_of(home)["pids"]
    for server in ("scheduler", "api-server"):
        os.kill(before[server]["pid"], signal.SIGKILL)
    # `airflow status` asked while the api-server is down answers once it is back.
    status = subprocess.Popen(
        [sys.executable, flow.name, "airflow", "--name", name, "status", run_id],
        cwd=flow.parent,
        env=live.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    assert status.poll() is None, status.communicate()
    up = mfairflow("airflow", "up", "--home", str(home), env=live.env)
    assert up.returncode == 0, up.stderr
    assert "Restarting api-server, scheduler under" in up.stderr, up.stderr
    after = state_of(home)["pids"]
    for server in ("postgres", "dag-processor"):
        assert after[server] == before[server], server  # left alone
    for server in ("scheduler", "api-server"):
        assert after[server]["pid"] != before[server]["pid"], server
    # The killed attempts' step processes went with their scheduler.
    assert not step_processes(flow, "body", run_id)

    out, err = status.communicate(timeout=300)
    assert status.returncode == 0 and out.strip() in ("Running", "Succeeded"), out + err
    out, err = waiter.communicate(timeout=900)
    assert waiter.returncode == 0 and out.strip() == "Succeeded", out + err
    assert "Traceback" not in err, err
    assert wait_run(live, name) == "success"
    run = probe(live, flow, FLOW_NAME, run_id)
    assert run["successful"], run
    assert run["steps"]["end"][0]["artifacts"]["total"] == repr(0 + 1 + 4)
    # Each split is one Metaflow task (the re-executed attempt wrote into the same task).
    assert len(run["steps"]["body"]) == 3, run["steps"]["body"]
    squares = sorted(task["artifacts"]["square"] for task in run["steps"]["body"])
    assert squares == ["0", "1", "4"]
    assert run["steps"]["join"][0]["artifacts"]["squares"] == repr([0, 1, 4])


def test_a_killed_task_is_retried_within_a_minute(live_airflow):
    """The processes of one running task (Airflow's supervisor and task runner, the step's
    shell and Python) killed, as an out-of-memory kill would: no one is left to report, so
    Airflow learns it from the missing heartbeats (45 s here, not Airflow's 5 min) and
    retries the step (@retry(times=1)); Metaflow then has attempt 1 of that task."""
    live = live_airflow
    name = "faults_task"
    flow = deploy(live, name)
    run_id = trigger(live, flow, name, "--seconds", "600", "--width", "1")
    (step,) = wait_for(lambda: step_processes(flow, "body", run_id), 300, "the split did not run")
    shell = parent(step)
    runner = parent(shell)
    supervisor = parent(runner)
    assert "airflow worker" in Path(f"/proc/{supervisor}/cmdline").read_text(), supervisor
    killed_at = time.monotonic()
    for pid in (supervisor, runner, shell, step):
        os.kill(pid, signal.SIGKILL)

    def retried():
        (ti,) = task_instances(live, name, "body")
        return ti if ti["try_number"] >= 2 else None

    ti = wait_for(retried, 150, "Airflow did not retry the killed task", pause=2)
    noticed_s = time.monotonic() - killed_at
    assert wait_run(live, name) == "success"
    run = probe(live, flow, FLOW_NAME, run_id)
    assert run["successful"], run
    (body,) = run["steps"]["body"]
    assert body["artifacts"]["attempt"] == "1"
    assert run["steps"]["join"][0]["artifacts"]["attempts"] == repr([1])
    assert ti["try_number"] == 2, ti
    print(f"killed task retried after {noticed_s:.0f} s")


def test_a_client_gives_up_clearly_when_airflow_stays_away(live_airflow):
    """Nothing answers: the client retries for METAFLOW_AIRFLOW_API_RETRY_SECONDS, then a
    clear error (no traceback)."""
    live = live_airflow
    flow = place(live, "linear_flow.py", "nowhere")
    env = dict(
        live.env,
        METAFLOW_AIRFLOW_REST_API_URL="http://127.0.0.1:9",
        METAFLOW_AIRFLOW_API_RETRY_SECONDS="4",
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, flow.name, "airflow", "status", "airflow-0123456789ab"],
        cwd=flow.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert time.monotonic() - started >= 4
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot reach Airflow at http://127.0.0.1:9" in proc.stderr
    assert "tried for 4 s" in proc.stderr and "Traceback" not in proc.stderr
