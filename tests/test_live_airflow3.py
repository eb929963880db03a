"""Deploy to, trigger and watch a live Airflow 3 (api-server, scheduler, dag-processor).

One Airflow for the session (conftest.live_airflow, started by `mfairflow airflow up`'s code).
Every flow is deployed with `--target local` (steps run as processes on the Airflow worker,
with the local datastore under live.base/.metaflow, which this process reads too); the flows
are deployed and triggered together first, then each test waits for its run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

E2E_FLOWS = ROOT / "tests" / "e2e_flows"
PROBE = ROOT / "tests" / "metaflow_probe.py"

pytestmark = pytest.mark.live

CLI_FLOWS = {  # flow file → trigger options
    "branch_flow.py": (),
    "foreach_flow.py": (),
    "nested_foreach_flow.py": (),
    "switch_flow.py": ("--mode", "slow"),
    "retry_flow.py": (),
    "fail_flow.py": (),
    "params_flow.py": ("--count", "7", "--flag", "True", "--config", '{"depth": 5}'),
    # Issue 17's shapes: a foreach in a switch case, a switch in a foreach, a split in a foreach.
    "switch_foreach_flow.py": ("--mode", "fan", "--width", "3"),
    "foreach_switch_flow.py": ("--width", "3"),
    "foreach_split_flow.py": ("--width", "2"),
    # Issue 21: a switch case that goes straight to the meeting step, at the top and per split.
    "if_without_else_flow.py": ("--choice", "direct", "--kinds", "bump,keep"),
}
SHAPES = (
    "switch_foreach_flow.py",
    "foreach_switch_flow.py",
    "foreach_split_flow.py",
    "if_without_else_flow.py",
)
LINEAGE = ROOT / "tests" / "metaflow_lineage_probe.py"


def place(live, flow_file: str, name: str | None = None) -> Path:
    """Copy a test flow into its own folder under the shared base; its path."""
    folder = live.base / (name or Path(flow_file).stem)
    folder.mkdir(exist_ok=True)
    shutil.copy(E2E_FLOWS / flow_file, folder / flow_file)
    return folder / flow_file


def cli(live, flow: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    """`python flow.py ARGS` in the flow's folder with the live environment."""
    return subprocess.run(
        [sys.executable, flow.name, *args],
        cwd=flow.parent,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def client(live):
    from mfairflow.live.client import AirflowClient

    return AirflowClient(live.instance.config())


def wait_run(live, dag_id: str, timeout: float = 420) -> str:
    """The final state of the DAG's latest run."""
    deadline = time.monotonic() + timeout
    c = client(live)
    while time.monotonic() < deadline:
        runs = c.list_runs(dag_id)
        if runs and runs[0]["state"] in ("success", "failed"):
            return runs[0]["state"]
        time.sleep(3)
    raise AssertionError(f"{dag_id} did not finish within {timeout} s")


def probe(live, flow: Path, flow_name: str, run_id: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(PROBE), "-", flow_name, run_id],
        cwd=flow.parent,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def triggered(live_airflow):
    """Deploy (CLI, in parallel) and trigger every CLI flow; flow file → (flow path, run id)."""
    live = live_airflow
    flows = {name: place(live, name) for name in CLI_FLOWS}
    creating = {
        name: subprocess.Popen(
            [sys.executable, flow.name, "airflow", "create", "--target", "local"],
            cwd=flow.parent,
            env=live.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, flow in flows.items()
    }
    for proc in creating.values():
        out, _ = proc.communicate(timeout=400)
        assert proc.returncode == 0, out
    triggering = {
        name: subprocess.Popen(
            [
                sys.executable,
                flow.name,
                "airflow",
                "trigger",
                "--run-id-file",
                "run_id",
                *CLI_FLOWS[name],
            ],
            cwd=flow.parent,
            env=live.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, flow in flows.items()
    }
    runs = {}
    for name, proc in triggering.items():
        out, _ = proc.communicate(timeout=400)
        assert proc.returncode == 0, out
        runs[name] = (flows[name], (flows[name].parent / "run_id").read_text().strip())
    return runs


def dag_of(flow: Path) -> str:
    return {
        "branch_flow": "BranchFlow",
        "foreach_flow": "ForeachFlow",
        "nested_foreach_flow": "NestedForeachFlow",
        "switch_flow": "SwitchFlow",
        "retry_flow": "RetryFlow",
        "fail_flow": "FailFlow",
        "params_flow": "ParamsFlow",
        "linear_flow": "LinearFlow",
        "switch_foreach_flow": "SwitchForeachFlow",
        "foreach_switch_flow": "ForeachSwitchFlow",
        "foreach_split_flow": "ForeachSplitFlow",
        "if_without_else_flow": "IfWithoutElseFlow",
    }[flow.stem]


def finished(live, triggered, name: str) -> dict:
    flow, run_id = triggered[name]
    state = wait_run(live, dag_of(flow))
    run = probe(live, flow, dag_of(flow), run_id)
    run["airflow_state"] = state
    return run


@pytest.fixture(scope="module")
def local_shape_runs(live_airflow, triggered):
    """The same shapes run locally (`python flow.py run`, same parameters), all at once while
    Airflow runs its own: flow file → local run id."""
    procs = {}
    for name in SHAPES:
        flow = triggered[name][0]
        procs[name] = subprocess.Popen(
            [sys.executable, flow.name, "run", "--run-id-file", "local_run_id", *CLI_FLOWS[name]],
            cwd=flow.parent,
            env=live_airflow.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    runs = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out
        runs[name] = (triggered[name][0].parent / "local_run_id").read_text().strip()
    return runs


def lineage(live, flow: Path, flow_name: str, run_id: str) -> dict:
    """Where each task read its inputs from (tests/metaflow_lineage_probe.py)."""
    proc = subprocess.run(
        [sys.executable, str(LINEAGE), "-", flow_name, run_id],
        cwd=flow.parent,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", SHAPES)
def test_new_graph_shapes_match_a_local_run(live_airflow, triggered, local_shape_runs, name):
    """Issue 17 on the running scheduler: artifacts, foreach stacks and the tasks each task
    read equal those of a local Metaflow run with the same parameters."""
    from test_e2e_local import artifacts

    live = live_airflow
    flow, run_id = triggered[name]
    in_airflow = finished(live, triggered, name)
    assert in_airflow["airflow_state"] == "success" and in_airflow["successful"], in_airflow
    local = probe(live, flow, dag_of(flow), local_shape_runs[name])
    assert artifacts(in_airflow) == artifacts(local)
    assert lineage(live, flow, dag_of(flow), run_id) == lineage(
        live, flow, dag_of(flow), local_shape_runs[name]
    )


def test_cli_create_wrote_into_dags_folder_and_unpaused(live_airflow, triggered):
    c = client(live_airflow)
    dag = c.get_dag("BranchFlow")
    assert not dag["is_paused"]
    assert Path(dag["fileloc"]) == live_airflow.instance.dags_folder / "BranchFlow.py"


def test_branch(live_airflow, triggered):
    run = finished(live_airflow, triggered, "branch_flow.py")
    assert run["airflow_state"] == "success" and run["successful"]
    assert run["steps"]["end"][0]["artifacts"]["result"] == repr(6 + 10 + 5)


def test_foreach_maps_in_parallel(live_airflow, triggered):
    run = finished(live_airflow, triggered, "foreach_flow.py")
    assert run["successful"]
    assert run["steps"]["join"][0]["artifacts"]["results"] == repr([i * 2 for i in range(10)])
    c = client(live_airflow)
    airflow_run = c.list_runs("ForeachFlow")[0]["dag_run_id"]
    tis = c.request(
        "GET",
        f"/dags/ForeachFlow/dagRuns/{airflow_run}/taskInstances",
        params={"limit": 100},
    ).json()["task_instances"]
    mapped = [ti for ti in tis if ti["task_id"] == "process"]
    assert sorted(ti["map_index"] for ti in mapped) == list(range(10))
    spans = sorted((ti["start_date"], ti["end_date"]) for ti in mapped)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "no two mapped tasks overlapped"


def test_nested_foreach(live_airflow, triggered):
    run = finished(live_airflow, triggered, "nested_foreach_flow.py")
    assert run["successful"]
    assert run["steps"]["end"][0]["artifacts"]["count"] == repr(3)


def test_switch_takes_the_chosen_case(live_airflow, triggered):
    run = finished(live_airflow, triggered, "switch_flow.py")
    assert run["successful"]
    assert run["steps"]["merge"][0]["artifacts"]["final"] == repr("WENT SLOW TWICE")
    assert "fast" not in run["steps"]


def test_retry(live_airflow, triggered):
    run = finished(live_airflow, triggered, "retry_flow.py")
    assert run["successful"]
    assert run["steps"]["flaky"][0]["artifacts"]["attempt"] == repr(1)


def test_failing_flow_fails(live_airflow, triggered):
    run = finished(live_airflow, triggered, "fail_flow.py")
    assert run["airflow_state"] == "failed"
    assert not run["successful"]
    flow, run_id = triggered["fail_flow.py"]
    proc = cli(live_airflow, flow, "airflow", "status", run_id)
    assert proc.returncode == 0 and proc.stdout.strip() == "Failed", proc.stdout + proc.stderr


def test_parameters_reach_the_run_typed(live_airflow, triggered):
    run = finished(live_airflow, triggered, "params_flow.py")
    start = run["steps"]["start"][0]["artifacts"]
    assert start["seen"] == repr(
        {"count": 7, "rate": 0.5, "label": "plain", "flag": True, "config": {"depth": 5}}
    )


def test_deployer_api_linear_then_from_deployment(live_airflow, triggered, monkeypatch):
    from metaflow import Deployer
    from metaflow.runner.deployer import DeployedFlow

    live = live_airflow
    flow = place(live, "linear_flow.py")
    monkeypatch.chdir(live.base)  # the Metaflow client finds base/.metaflow from here
    for key, value in live.instance.exports().items():
        monkeypatch.setenv(key, value)
    # The Metaflow client in this process needs a user, as in the flow's own processes (root
    # is no Metaflow user).
    # (Metaflow reads METAFLOW_USER once, at import, so USER is what counts here.)
    user = live.env.get("METAFLOW_USER", "tester")
    monkeypatch.setenv("METAFLOW_USER", user)
    monkeypatch.setenv("USER", user)
    monkeypatch.setenv("USERNAME", user)
    deployed = (
        Deployer(str(flow), show_output=False, env=live.env, cwd=str(flow.parent))
        .airflow(name="linear_live")
        .create(target="local", tags=["live"])
    )
    assert deployed.deployer.name == "linear_live"
    assert deployed.deployer.flow_name == "LinearFlow"
    run = deployed.trigger()
    assert run.pathspec.startswith("LinearFlow/airflow-")
    assert run.status in ("Pending", "Running", "Succeeded")
    run.wait_for_completion(check_interval=3, timeout=400)
    assert run.status == "Succeeded" and not run.is_running
    assert run.run is not None and run.run.successful
    assert run.run["end"].task["total"].data == 11 + 33
    assert "live" in run.run.user_tags
    again = DeployedFlow.from_deployment("linear_live", impl="airflow")
    assert again.deployer.flow_name == "LinearFlow"
    second = again.trigger()
    assert second.pathspec != run.pathspec
    same = DeployedFlow.from_airflow("linear_live")
    second.wait_for_completion(check_interval=3, timeout=400)
    assert second.status == "Succeeded"
    fetched = same.get_triggered_run("linear_live", second.pathspec.split("/")[1])
    assert fetched.status == "Succeeded" and fetched.run.successful
    names = [d.deployer.name for d in DeployedFlow.list_airflow(flow_name="LinearFlow")]
    assert names == ["linear_live"]
    assert again.delete()
    assert client(live).get_dag("linear_live") is None
    assert not (live.instance.dags_folder / "linear_live.py").exists()
    assert not processes_mentioning(str(flow.parent)), "a step process outlived delete"


def processes_mentioning(text: str) -> list:
    """Pids of processes whose command line mentions ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_second_up_reuses_the_running_airflow(live_airflow):
    from mfairflow.live import local_airflow

    home = live_airflow.instance.home
    before = local_airflow.status(str(home))
    again = local_airflow.up(str(home), live_airflow.instance.port, log=lambda _msg: None)
    assert again == live_airflow.instance
    assert local_airflow.status(str(home)) == before
    assert set(before) == {"postgres", "api-server", "scheduler", "dag-processor"}
    assert all(before.values())


def test_paused_upon_creation_stays_paused_and_trigger_refuses(live_airflow):
    live = live_airflow
    flow = place(live, "linear_flow.py", "paused")
    proc = cli(
        live,
        flow,
        "airflow",
        "--name",
        "paused_live",
        "create",
        "--target",
        "local",
        "--is-paused-upon-creation",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert client(live).get_dag("paused_live")["is_paused"]
    proc = cli(live, flow, "airflow", "--name", "paused_live", "trigger")
    assert proc.returncode == 2
    assert "is paused" in proc.stderr and "Traceback" not in proc.stderr


def test_broken_dag_reports_airflows_import_error(live_airflow):
    live = live_airflow
    flow = place(live, "linear_flow.py", "broken")
    # An organization template that breaks at import time in Airflow (not at compile time).
    templates = flow.parent / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "dag.py.jinja").write_text(
        '{% extends "mfairflow/dag.py.jinja" %}\n'
        "{% block footer %}\nraise RuntimeError('broken on purpose in Airflow')\n{% endblock %}\n"
    )
    proc = cli(
        live,
        flow,
        "airflow",
        "--name",
        "broken_live",
        "create",
        "--target",
        "local",
        "--template-dir",
        str(templates),
        "--deploy-timeout",
        "120",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "broken on purpose in Airflow" in proc.stderr
    assert "error: Airflow could not import" in proc.stderr
    broken = live.instance.dags_folder / "broken_live.py"
    assert broken.exists()
    broken.unlink()


def test_bad_inputs_are_clear_errors(live_airflow, triggered):
    live = live_airflow
    flow, _ = triggered["params_flow.py"]
    wrong = cli(live, flow, "airflow", "trigger", "--count", "7", "--config", "[1, 2]")
    assert wrong.returncode == 2 and "refused the parameters" in wrong.stderr, wrong.stderr
    unknown = cli(live, flow, "airflow", "--name", "no_such_dag", "trigger")
    assert unknown.returncode == 2 and "has no DAG 'no_such_dag'" in unknown.stderr
    again = cli(live, flow, "airflow", "trigger", "--airflow-run-id", "dup-1")
    assert again.returncode == 0, again.stderr
    dup = cli(live, flow, "airflow", "trigger", "--airflow-run-id", "dup-1")
    assert dup.returncode == 2 and "already has a run 'dup-1'" in dup.stderr
    bad_password = dict(live.env, METAFLOW_AIRFLOW_PASSWORD="wrong")
    proc = subprocess.run(
        [sys.executable, flow.name, "airflow", "trigger"],
        cwd=flow.parent,
        env=bad_password,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "refused the login" in proc.stderr, proc.stderr
    nowhere = dict(
        live.env,
        METAFLOW_AIRFLOW_REST_API_URL="http://127.0.0.1:9",
        METAFLOW_AIRFLOW_API_RETRY_SECONDS="1",
    )
    proc = subprocess.run(
        [sys.executable, flow.name, "airflow", "trigger"],
        cwd=flow.parent,
        env=nowhere,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "cannot reach Airflow" in proc.stderr, proc.stderr
    for proc in (wrong, unknown, dup):
        assert "Traceback" not in proc.stderr


def test_exit_hooks_on_the_live_scheduler(live_airflow):
    """Issue 16.3 on a running scheduler: the success hook after a run that succeeds, the
    error hook after one that fails, each reading the Metaflow run of its DAG run."""
    live = live_airflow
    cases = {"hooks_ok": ("--fail", "False"), "hooks_fail": ("--fail", "True")}
    flows = {name: place(live, "exit_hook_flow.py", name) for name in cases}
    for name, flow in flows.items():
        proc = cli(live, flow, "airflow", "--name", name, "create", "--target", "local")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    for name, flow in flows.items():
        proc = cli(
            live,
            flow,
            "airflow",
            "--name",
            name,
            "trigger",
            "--run-id-file",
            "run_id",
            *cases[name],
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = {"hooks_ok": ("success", "success", True), "hooks_fail": ("failed", "error", False)}
    for name, flow in flows.items():
        state, kind, successful = expected[name]
        assert wait_run(live, name) == state, name
        run_id = (flow.parent / "run_id").read_text().strip()
        written = {
            path.stem: json.loads(path.read_text()) for path in flow.parent.glob("hook_*.json")
        }
        assert set(written) == {f"hook_{kind}"}, (name, written)
        assert written[f"hook_{kind}"]["pathspec"] == f"ExitHookFlow/{run_id}", name
        assert written[f"hook_{kind}"]["successful"] is successful, name


def test_timezone_schedule_next_run_as_airflow_reports_it(live_airflow):
    """Issue 16.4: Airflow's API reports the next run of `@schedule(cron="30 9 * * 1-5",
    timezone="Europe/Berlin")` at 9:30 Berlin time on a weekday (in UTC, per the season)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    live = live_airflow
    flow = place(live, "timezone_flow.py", "timezone")
    proc = cli(live, flow, "airflow", "create", "--target", "local", "--is-paused-upon-creation")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dag = client(live).get_dag("TimezoneFlow")
    after = dag.get("next_dagrun_run_after") or dag.get("next_dagrun_create_after")
    assert after, dag
    berlin = datetime.fromisoformat(after.replace("Z", "+00:00")).astimezone(
        ZoneInfo("Europe/Berlin")
    )
    assert (berlin.hour, berlin.minute) == (9, 30) and berlin.weekday() < 5, after
    assert dag["timetable_description"], dag


def assert_bad_payload_fails_its_run(live, flow: Path) -> None:
    """An int parameter given "1; touch MARKER": the run fails at its start task, once (no
    retry), and the task's log names the event's field and the parameter (issue 21.9)."""
    c = client(live)
    published = cli(
        live,
        flow,
        "airflow",
        "publish-event",
        "mfairflow.test.ready",
        "--payload",
        '{"value": "1; touch MARKER"}',
    )
    assert published.returncode == 0, published.stdout + published.stderr
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = c.list_runs("EventFlow")
        if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(3)
    failed = [r for r in runs if r["state"] == "failed"]
    assert len(runs) == 2 and len(failed) == 1, runs
    base = f"/dags/EventFlow/dagRuns/{failed[0]['dag_run_id']}/taskInstances/start"
    start = c.request("GET", base).json()
    assert (start["state"], start["try_number"]) == ("failed", 1), start
    log = c.request("GET", f"{base}/logs/1", headers={"Accept": "application/json"}).text
    assert "field 'value' of event 'mfairflow.test.ready' for parameter 'alpha'" in log, log[-3000:]
    assert "is not an integer; the run does not start" in log, log[-3000:]
    assert not list(live.base.rglob("MARKER"))


def latest_run_of(live, flow: Path, flow_name: str, dag_id: str, timeout: float = 420) -> dict:
    """Wait for the DAG's first run to finish (one that Airflow itself started); its probe."""
    state = wait_run(live, dag_id, timeout)
    run = client(live).list_runs(dag_id)[0]
    from mfairflow.live.commands import metaflow_run_id

    found = probe(live, flow, flow_name, metaflow_run_id(dag_id, run["dag_run_id"]))
    found["airflow_state"], found["run_type"] = state, run.get("run_type")
    return found


def test_trigger_on_finish_and_events_start_runs_by_themselves(live_airflow):
    """Issue 16.1 and 16.2 on a running scheduler: UpstreamFlow's finish starts DownstreamFlow,
    whose steps see the upstream run in current.trigger; a published event starts EventFlow
    with the parameters its payload maps (the rest keep their defaults)."""
    from mfairflow import AirflowEvent
    from mfairflow.live.client import AirflowError

    live = live_airflow
    flows = {name: place(live, f"{name}_flow.py") for name in ("upstream", "downstream", "event")}
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
    c = client(live)
    assert c.list_runs("DownstreamFlow") == [] and c.list_runs("EventFlow") == []
    up = cli(live, flows["upstream"], "airflow", "trigger", "--run-id-file", "run_id")
    assert up.returncode == 0, up.stdout + up.stderr
    # Jinja, shell and quotes in a payload reach the parameter as text (issue 21.9).
    word = "{{ 7*7 }} $(touch MARKER) `touch MARKER` 'q' \"dq\""
    published = cli(
        live,
        flows["event"],
        "airflow",
        "publish-event",
        "mfairflow.test.ready",
        "--payload",
        json.dumps({"value": 42, "word": word}),
    )
    assert published.returncode == 0, published.stdout + published.stderr
    assert "Event mfairflow.test.ready published" in published.stdout + published.stderr

    upstream_run = "UpstreamFlow/" + (flows["upstream"].parent / "run_id").read_text().strip()
    down = latest_run_of(live, flows["downstream"], "DownstreamFlow", "DownstreamFlow")
    assert down["airflow_state"] == "success" and down["run_type"] == "asset_triggered", down
    assert down["successful"], down
    start = down["steps"]["start"][0]["artifacts"]
    assert start["upstream"] == repr(upstream_run)
    assert start["upstream_value"] == "17"
    assert down["steps"]["end"][0]["artifacts"]["end_sees"] == repr([upstream_run])
    # The client's Run.trigger reads the start step's metadata, as for a run on Argo.
    read = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from metaflow import Run, namespace; namespace(None); "
            "print(Run(sys.argv[1]).trigger.run.pathspec)",
            down["pathspec"],
        ],
        cwd=flows["downstream"].parent,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert read.stdout.strip() == upstream_run, read.stdout + read.stderr

    event = latest_run_of(live, flows["event"], "EventFlow", "EventFlow")
    assert event["airflow_state"] == "success" and event["run_type"] == "asset_triggered", event
    got = event["steps"]["start"][0]["artifacts"]
    assert got["got"] == repr([42, word, "untouched"])
    assert got["event_name"] == repr("mfairflow.test.ready")
    assert not list(live.base.rglob("MARKER"))
    assert_bad_payload_fails_its_run(live, flows["event"])

    # Airflow knows no Asset of that name: a clear error, from the CLI and from Python.
    unknown = cli(live, flows["event"], "airflow", "publish-event", "no.such.event")
    assert unknown.returncode == 2 and "knows no Asset 'no.such.event'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    not_json = cli(live, flows["event"], "airflow", "publish-event", "x", "--payload", "{oops")
    assert not_json.returncode == 2 and "--payload is not JSON" in not_json.stderr
    env = {k: v for k, v in live.env.items() if k.startswith("METAFLOW_AIRFLOW")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        with pytest.raises(AirflowError, match="knows no Asset"):
            AirflowEvent("no.such.event").publish()
        assert AirflowEvent("no.such.event").safe_publish() is None


def test_a_token_airflow_no_longer_accepts_means_a_new_login(live_airflow):
    """Issue 14: a client whose token Airflow rejects (expired, or signed before a restart)
    logs in again with its credentials and goes on, instead of failing."""
    import dataclasses

    from mfairflow.live.client import AirflowClient

    config = dataclasses.replace(live_airflow.instance.config(), token="not.a.valid-token")
    c = AirflowClient(config)
    assert isinstance(c.list_dags(), list)  # answered after a new login
    assert c._bearer not in (None, "not.a.valid-token")
    without_credentials = dataclasses.replace(config, username=None, password=None)
    with pytest.raises(Exception, match="refused the credentials"):
        AirflowClient(without_credentials).list_dags()


def test_airflow_restarted_between_create_and_trigger(live_airflow):
    """Issue 14: `mfairflow airflow down` then `up` on the same home (new token secret, same
    credentials and DAGs): a flow deployed before triggers and runs; a client made before the
    restart logs in again. Last in the module: it restarts the session's Airflow."""
    from mfairflow.live import local_airflow, processes

    live = live_airflow
    flow = place(live, "linear_flow.py", "restarted")
    proc = cli(live, flow, "airflow", "--name", "restarted", "create", "--target", "local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    before = client(live)
    assert before.get_dag("restarted") is not None
    home = str(live.instance.home)
    pids = local_airflow.status(home)
    assert set(local_airflow.down(home, log=lambda _msg: None)) == {
        "postgres",
        "api-server",
        "scheduler",
        "dag-processor",
    }
    for pid in pids.values():  # PostgreSQL included: `down` leaves no process running
        assert processes.start_time(pid) is None, pid
    restarted = local_airflow.up(home, live.instance.port, log=lambda _msg: None)
    assert restarted.exports() == live.instance.exports()
    proc = cli(live, flow, "airflow", "--name", "restarted", "trigger", "--run-id-file", "run_id")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert wait_run(live, "restarted") == "success"
    run_id = (flow.parent / "run_id").read_text().strip()
    assert probe(live, flow, "LinearFlow", run_id)["successful"]
    assert before.get_run("restarted", before.list_runs("restarted")[0]["dag_run_id"])
