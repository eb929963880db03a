"""Issue 22, items 4 and 5, on the live Airflow 3 of the session (tests/conftest.py).

* A step fails because something outside is down; the operator repairs it and clears the failed
  task through Airflow's REST API: the same DAG run and the same Metaflow run end successful,
  even after more clears than Metaflow keeps attempts of a task.
* `airflow resume` and `DeployedFlow.resume`: a new DAG run copies (Metaflow's clone) the tasks
  that succeeded in the origin run and runs the rest, with the parameters given to the resume.

The flows run with `--target local`; every task leaves a token unique to the task that ran it,
so a copied task shows its origin's token (and Metaflow's `origin-task-id`).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time

import pytest
from test_live_airflow3 import cli, client, place

pytestmark = pytest.mark.live

FLOWS = {  # flow file → (DAG id, the origin runs' trigger options by name)
    "resume_flow.py": (
        "ResumeFlow",
        {"failed": ("--should_fail", "True", "--label", "kept"), "succeeded": ()},
    ),
    "foreach_resume_flow.py": ("ForeachResumeFlow", {"failed": ("--fail_on", "3")}),
    "outage_flow.py": ("OutageFlow", {"failed": ()}),
}
READ_RUN = """
import json, sys
from metaflow import Run, namespace
namespace(None)
run = Run(sys.argv[1])
tasks = {}
for step in run:
    for task in step:
        data = {art.id: repr(art.data) for art in task if not art.id.startswith("_")}
        meta = task.metadata_dict
        tasks[f"{step.id}/{task.id.rpartition('-')[2]}"] = {
            "id": task.id, "origin": meta.get("origin-task-id"),
            "origin_run": meta.get("origin-run-id"), "attempt": task.current_attempt,
            "data": data,
        }
print(json.dumps({"successful": run.successful, "origin": run.origin_pathspec, "tasks": tasks}))
"""


def read_run(live, folder, pathspec: str) -> dict:
    """A Metaflow run as its tasks see it, each named by its step and map index (task ids
    differ between an origin and its resumed run): ids, origin task ids, attempts, artifacts."""
    proc = subprocess.run(
        [sys.executable, "-c", READ_RUN, pathspec],
        cwd=folder,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def wait_state(live, dag_id: str, airflow_run: str, timeout: float = 420) -> str:
    """The final state of one DAG run."""
    c = client(live)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = c.get_run(dag_id, airflow_run)["state"]
        if state in ("success", "failed"):
            return state
        time.sleep(2)
    raise AssertionError(f"{dag_id} run {airflow_run} did not finish within {timeout} s")


def airflow_run_of(live, dag_id: str, run_id: str) -> str:
    from mfairflow.live.commands import find_run

    return find_run(client(live), dag_id, run_id)["dag_run_id"]


def use_live_env(monkeypatch, live, folder) -> None:
    """This process as a user of the live Airflow in ``folder`` (Metaflow settings, user)."""
    monkeypatch.chdir(folder)  # the local datastore is found from here
    for key, value in live.env.items():
        if key.startswith("METAFLOW_") or key in ("USER", "USERNAME", "LOGNAME"):
            monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def origins(live_airflow):
    """Deploy the flows and trigger their origin runs: (flow file, name) → (flow, run id)."""
    live = live_airflow
    flows = {name: place(live, name) for name in FLOWS}
    (flows["outage_flow.py"].parent / "service_state").write_text("down\n")
    creating = [
        subprocess.Popen(
            [sys.executable, flow.name, "airflow", "create", "--target", "local"],
            cwd=flow.parent,
            env=live.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for flow in flows.values()
    ]
    for proc in creating:
        out, _ = proc.communicate(timeout=400)
        assert proc.returncode == 0, out
    runs = {}
    for name, (_, triggers) in FLOWS.items():
        for label, options in triggers.items():
            flow = flows[name]
            id_file = f"run_id_{label}"
            proc = cli(live, flow, "airflow", "trigger", "--run-id-file", id_file, *options)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            runs[name, label] = (flow, (flow.parent / id_file).read_text().strip())
    return runs


def finished_origin(live, origins, name: str, label: str, state: str) -> tuple:
    """An origin run once it ended in ``state``: (flow path, Metaflow run id)."""
    flow, run_id = origins[name, label]
    dag_id = FLOWS[name][0]
    assert wait_state(live, dag_id, airflow_run_of(live, dag_id, run_id)) == state
    return flow, run_id


def resume_cli(live, flow, *args: str) -> str:
    """`airflow resume ARGS`; the resumed run's Metaflow run id once its DAG run ended."""
    proc = cli(live, flow, "airflow", "resume", "--run-id-file", "resumed_id", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return (flow.parent / "resumed_id").read_text().strip()


def test_a_cleared_task_completes_the_same_run_even_past_metaflows_attempts(live_airflow, origins):
    """Item 4: fetch fails while the service is down; the operator clears it six more times
    (seven tries: more than Metaflow's six attempts), repairs the service and clears it once
    more. The same DAG run succeeds, and so does the same Metaflow run, with the artifacts of
    the last try (Metaflow's last attempt, which the later tries replace)."""
    live = live_airflow
    flow, run_id = finished_origin(live, origins, "outage_flow.py", "failed", "failed")
    airflow_run = airflow_run_of(live, "OutageFlow", run_id)
    c = client(live)

    def clear() -> str:
        body = {
            "dry_run": False,
            "dag_run_id": airflow_run,
            "task_ids": ["fetch"],
            "only_failed": True,
            "include_downstream": True,
            "reset_dag_runs": True,
        }
        c.request("POST", "/dags/OutageFlow/clearTaskInstances", json=body)
        time.sleep(3)  # the run leaves "failed" when the cleared task is queued again
        return wait_state(live, "OutageFlow", airflow_run)

    for _ in range(6):
        assert clear() == "failed"
    (flow.parent / "service_state").write_text("up\n")
    assert clear() == "success"
    tries = c.request("GET", f"/dags/OutageFlow/dagRuns/{airflow_run}/taskInstances/fetch")
    assert tries.json()["try_number"] == 8
    run = read_run(live, flow.parent, f"OutageFlow/{run_id}")
    assert run["successful"], run
    fetch = run["tasks"]["fetch/0"]
    assert fetch["attempt"] == 5 and fetch["data"]["fetched"] == repr("up"), fetch
    assert fetch["data"]["attempt"] == "5"
    status = cli(live, flow, "airflow", "status", run_id)
    assert status.returncode == 0 and status.stdout.strip() == "Succeeded", status.stderr
    from mfairflow.live.deployer_objects import AirflowDeployedFlow

    with pytest.MonkeyPatch.context() as mp:
        for key, value in live.env.items():
            if key.startswith("METAFLOW_AIRFLOW"):
                mp.setenv(key, value)
        triggered = AirflowDeployedFlow.get_triggered_run("OutageFlow", run_id)
        assert triggered.status == "Succeeded"


def test_resume_of_a_failed_run_reruns_from_the_failure_with_new_parameters(live_airflow, origins):
    """Item 5: start is copied from the origin (its token, Metaflow's origin-task-id); process
    and end run again with should_fail=False as given, and label as in the origin run."""
    live = live_airflow
    flow, origin = finished_origin(live, origins, "resume_flow.py", "failed", "failed")
    resumed = resume_cli(live, flow, "--origin-run-id", origin, "--should_fail", "False")
    assert resumed != origin
    dag_id = "ResumeFlow"
    assert wait_state(live, dag_id, airflow_run_of(live, dag_id, resumed)) == "success"
    status = cli(live, flow, "airflow", "status", resumed)
    assert status.stdout.strip() == "Succeeded", status.stdout + status.stderr
    before = read_run(live, flow.parent, f"ResumeFlow/{origin}")
    after = read_run(live, flow.parent, f"ResumeFlow/{resumed}")
    assert not before["successful"] and after["successful"]
    assert after["origin"] == f"ResumeFlow/{origin}"  # Run.origin_pathspec
    start, process, end = (after["tasks"][f"{s}/0"] for s in ("start", "process", "end"))
    assert start["origin"] == "t-0" and start["origin_run"] == origin
    assert start["data"] == before["tasks"]["start/0"]["data"]  # the origin's artifacts
    assert start["data"]["should_fail"] == "True"
    assert process["origin"] is None and end["origin"] is None  # they ran again
    # New tasks, as in Metaflow's resume (Metaflow's test/ux compares the task ids).
    assert [t["id"] for t in (start, process, end)] == ["r1-0"] * 3
    assert before["tasks"]["process/0"]["id"] == "t-0"
    assert process["origin_run"] == origin  # Metaflow's record of the resume
    assert process["data"]["seen"] == repr((False, "kept"))
    assert end["data"]["end_seen"] == repr((False, "kept"))
    assert end["data"]["should_fail"] == "False"


def test_resume_through_the_deployer_api(live_airflow, origins, monkeypatch):
    """DeployedFlow.resume (Metaflow's test/ux signature), on a deployment rebuilt from Airflow:
    a successful run resumed without a step copies every task; with step_to_rerun="process",
    start is copied and process and end run again."""
    from metaflow.runner.deployer import DeployedFlow

    live = live_airflow
    flow, origin = finished_origin(live, origins, "resume_flow.py", "succeeded", "success")
    use_live_env(monkeypatch, live, flow.parent)
    deployed = DeployedFlow.from_deployment("ResumeFlow", impl="airflow")
    everything = deployed.resume(origin_run_id=origin)
    rerun = deployed.resume(origin_run_id=origin, step_to_rerun="process")
    for triggered in (everything, rerun):
        triggered.wait_for_completion(check_interval=3, timeout=400)
        assert triggered.status == "Succeeded"
    # A resumed run resumed in turn: its tasks are the third generation.
    third = deployed.resume(origin_run_id=rerun.pathspec.split("/")[1])
    third.wait_for_completion(check_interval=3, timeout=400)
    assert third.status == "Succeeded"
    before = read_run(live, flow.parent, f"ResumeFlow/{origin}")["tasks"]
    copied = read_run(live, flow.parent, everything.pathspec)
    assert copied["successful"] and set(copied["tasks"]) == set(before)
    for task, found in copied["tasks"].items():
        assert found["origin"] == "t-0" and found["data"] == before[task]["data"], task
    again = read_run(live, flow.parent, rerun.pathspec)["tasks"]
    assert again["start/0"]["origin"] == "t-0"
    assert again["start/0"]["data"] == before["start/0"]["data"]
    for step, token in (("process", "process_token"), ("end", "end_token")):
        assert again[f"{step}/0"]["origin"] is None
        assert again[f"{step}/0"]["data"][token] != before[f"{step}/0"]["data"][token]
        assert again[f"{step}/0"]["id"] != before[f"{step}/0"]["id"]
    last = read_run(live, flow.parent, third.pathspec)["tasks"]
    assert {task: found["id"] for task, found in last.items()} == {t: "r2-0" for t in before}
    assert {task: found["origin"] for task, found in last.items()} == {t: "r1-0" for t in before}
    assert last["end/0"]["data"] == again["end/0"]["data"]


def test_resume_of_a_failed_foreach_split_copies_its_siblings(live_airflow, origins):
    """The split of item 3 failed: the switch step and the foreach step are copied (the
    copies hand Airflow their XCom: the case, the splits), and so are the three siblings that
    succeeded; the failed split runs again, then the join and what follows."""
    live = live_airflow
    flow, origin = finished_origin(live, origins, "foreach_resume_flow.py", "failed", "failed")
    resumed = resume_cli(live, flow, "--origin-run-id", origin, "--fail_on", "-1")
    dag_id = "ForeachResumeFlow"
    assert wait_state(live, dag_id, airflow_run_of(live, dag_id, resumed)) == "success"
    before = read_run(live, flow.parent, f"{dag_id}/{origin}")["tasks"]
    after = read_run(live, flow.parent, f"{dag_id}/{resumed}")
    assert after["successful"]
    tasks = after["tasks"]
    for copied in ("start/0", "wide/0", "work/0", "work/1", "work/3"):
        assert tasks[copied]["origin"] == before[copied]["id"], copied
        assert tasks[copied]["data"] == before[copied]["data"], copied
    for ran in ("work/2", "gather/0", "done/0", "end/0"):
        assert tasks[ran]["origin"] is None, ran
    assert "narrow/0" not in tasks
    gather = tasks["gather/0"]["data"]
    assert gather["results"] == repr([10, 20, 30, 40])
    tokens = {i: tasks[f"work/{i}"]["data"]["work_token"] for i in range(4)}
    assert gather["tokens"] == repr([ast.literal_eval(tokens[i]) for i in range(4)])
    assert "work_token" not in before["work/2"]["data"]


def test_resume_errors_are_clear(live_airflow, origins, monkeypatch):
    """An unknown run, another flow's run, a run of `python flow.py run`, one still running,
    an unknown step, a path:
    `error:`/`hint:` and exit 2 from the CLI, a MetaflowException from DeployedFlow.resume."""
    from metaflow.exception import MetaflowException
    from metaflow.runner.deployer import DeployedFlow

    live = live_airflow
    flow, failed = finished_origin(live, origins, "resume_flow.py", "failed", "failed")
    _, other = origins["foreach_resume_flow.py", "failed"]
    local = cli(live, flow, "run", "--run-id-file", "local_run_id")
    assert local.returncode == 0, local.stdout + local.stderr
    local_run = (flow.parent / "local_run_id").read_text().strip()
    cases = {
        ("--origin-run-id", "airflow-000000000000"): "has no run 'airflow-000000000000'",
        ("--origin-run-id", other): f"has no run '{other}'",
        ("--origin-run-id", f"ForeachResumeFlow/{other}"): "is a run of the flow",
        ("--origin-run-id", "../../etc"): "is not a Metaflow run id nor an Airflow run",
        ("--origin-run-id", local_run): "was not run by an Airflow DAG of mfairflow",
        ("--origin-run-id", failed, "nowhere"): "'nowhere' is not a step of",
    }
    going = cli(live, flow, "airflow", "trigger", "--run-id-file", "going_run_id")
    assert going.returncode == 0, going.stdout + going.stderr
    going_run = (flow.parent / "going_run_id").read_text().strip()
    # First: the run just triggered is still going (a run of three steps takes 15 s or more).
    cases = {("--origin-run-id", going_run): "is still running", **cases}
    for args, message in cases.items():
        proc = cli(live, flow, "airflow", "resume", *args)
        assert proc.returncode == 2, (args, proc.stdout + proc.stderr)
        assert message in proc.stderr and "hint:" in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    use_live_env(monkeypatch, live, flow.parent)
    deployed = DeployedFlow.from_deployment("ResumeFlow", impl="airflow")
    with pytest.raises(MetaflowException, match="has no run 'airflow-000000000000'"):
        deployed.resume(origin_run_id="airflow-000000000000")
