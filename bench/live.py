"""Load on a live local Airflow 3, PostgreSQL beside SQLite (`make bench-live`; not in `make test`).

For each database, a fresh `mfairflow airflow up --database DB` (its code, a free port) and:
  1. 20 DAGs deployed together (20 `airflow create` at once, each waits for Airflow's parse);
  2. 4 runs of a 50-split foreach triggered at once;
  3. one run of a 500-split foreach;
  4. the floor: a bare Airflow task doing nothing, and one mfairflow step doing nothing, each
     run 5 times on the quiet Airflow.
Every run must succeed with every split in its Metaflow run (the join sees all of them, each
split's value once); runs are watched to the end (a stuck run fails the bench). Measured: wall
times, the scheduling delay of each task (queued → running, from Airflow's task instance
records), the API's answer time while the runs load it (GET of the runs, polled each second),
and the floor. Steps run with `--target local` (processes on the worker). Writes bench/live.md
and bench/out/live.json.

Knobs for quick trials: BENCH_LIVE_DATABASES=postgres, BENCH_LIVE_WIDE=50, BENCH_LIVE_HUGE=500.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import clean_env, free_port  # noqa: E402

from mfairflow.live import commands, local_airflow  # noqa: E402
from mfairflow.live.client import AirflowClient, parse_time  # noqa: E402

DATABASES = os.environ.get("BENCH_LIVE_DATABASES", "postgres,sqlite").split(",")
WIDE = int(os.environ.get("BENCH_LIVE_WIDE", "50"))
HUGE = int(os.environ.get("BENCH_LIVE_HUGE", "500"))
RUN_TIMEOUT_S = 3600

WIDE_FLOW = '''from metaflow import FlowSpec, Parameter, step


class WideFlow(FlowSpec):
    """A foreach of `width` splits doing almost nothing; the join checks it saw each once."""

    width = Parameter("width", default=50, type=int)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.value = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(inp.value for inp in inputs)
        assert self.values == [i * 2 for i in range(self.width)], "a split is missing"
        self.next(self.end)

    @step
    def end(self):
        self.count = len(self.values)


if __name__ == "__main__":
    WideFlow()
'''

FLOOR_FLOW = '''from metaflow import FlowSpec, step


class FloorFlow(FlowSpec):
    """Two steps doing nothing: what one mfairflow step costs."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FloorFlow()
'''

BARE_DAG = '''"""A bare Airflow task doing nothing: the floor under an mfairflow step."""
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:
    from airflow.operators.python import PythonOperator


def nothing():
    return None


with DAG("bare_floor", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    PythonOperator(task_id="noop", python_callable=nothing)
'''

# The Metaflow run of a WideFlow DAG run: every split once, the join's count.
PROBE = """
import json, sys
from metaflow import Run, namespace
namespace(None)
run = Run("WideFlow/" + sys.argv[1])
values = sorted(task["value"].data for task in run["body"])
print(json.dumps({"successful": run.successful, "splits": len(values),
                  "values_ok": values == [2 * i for i in range(int(sys.argv[2]))],
                  "count": run["end"].task["count"].data}))
"""


def cmd(env: dict, cwd: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def quantiles(values: list) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
    }


def task_instances(client: AirflowClient, dag_id: str, run_id: str) -> list:
    found: list = []
    while True:
        page = client.request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
            params={"limit": 100, "offset": len(found)},
        ).json()
        found += page["task_instances"]
        if not page["task_instances"] or len(found) >= page["total_entries"]:
            return found


def scheduling_delays(tis: list) -> list:
    """queued → running of each task instance, seconds."""
    delays = []
    for ti in tis:
        queued, started = parse_time(ti.get("queued_when")), parse_time(ti.get("start_date"))
        if queued is not None and started is not None:
            delays.append(max(0.0, started - queued))
    return delays


def wait_runs(client: AirflowClient, dag_runs: list) -> dict:
    """Wait until every (dag id, run id) ended; their states. A run still going after
    RUN_TIMEOUT_S is stuck: the bench fails."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    states: dict = {}
    while len(states) < len(dag_runs):
        for dag_id, run_id in dag_runs:
            if (dag_id, run_id) not in states:
                state = client.get_run(dag_id, run_id)["state"]
                if state in ("success", "failed"):
                    states[(dag_id, run_id)] = state
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs stuck after {RUN_TIMEOUT_S} s: {dag_runs}")
        time.sleep(2)
    return states


class ApiProbe:
    """Times a GET of the runs each second while the load runs (a client's view)."""

    def __init__(self, client: AirflowClient, dag_id: str) -> None:
        self.client, self.dag_id = client, dag_id
        self.times: list = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.client.list_runs(self.dag_id)
                self.times.append(time.monotonic() - started)
            except Exception:  # a failed answer is counted, not fatal
                self.errors += 1
            self._stop.wait(1.0)

    def __enter__(self) -> ApiProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def bench_database(database: str, work: Path) -> dict:
    base = work / database
    (base / ".metaflow").mkdir(parents=True)
    home = base / "airflow"
    started = time.monotonic()
    instance = local_airflow.up(str(home), free_port(), database=database, log=print)
    result: dict = {"up_s": time.monotonic() - started, "parallelism": None}
    result["parallelism"] = json.loads((home / local_airflow.STATE_FILE).read_text())["parallelism"]
    env = clean_env(base, {"METAFLOW_DEFAULT_DATASTORE": "local", **instance.exports()})
    env.pop("METAFLOW_DATASTORE_SYSROOT_S3", None)
    client = AirflowClient(instance.config())
    try:
        result["deploy_20"] = deploy_many(env, base)
        wide = base / "wide"
        wide.mkdir()
        (wide / "wide_flow.py").write_text(WIDE_FLOW)
        cmd(env, wide, "wide_flow.py", "airflow", "create", "--target", "local")
        result["wide_4x"] = load(client, env, wide, runs=4, width=WIDE)
        result["huge_1x"] = load(client, env, wide, runs=1, width=HUGE)
        result["floor"] = floor(client, instance)  # FloorFlow is deployed_00
    finally:
        local_airflow.down(str(home), log=print)
    return result


def deploy_many(env: dict, base: Path, count: int = 20) -> dict:
    """`airflow create` of `count` DAGs at once; wall time until Airflow loaded all."""
    folders = []
    for i in range(count):
        folder = base / f"deploy{i:02d}"
        folder.mkdir()
        (folder / "floor_flow.py").write_text(FLOOR_FLOW)
        folders.append(folder)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "floor_flow.py",
                "airflow",
                "--name",
                f"deployed_{i:02d}",
                "create",
                "--target",
                "local",
                "--deploy-timeout",
                "1200",
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, folder in enumerate(folders)
    ]
    ends = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"create failed: {out[-2000:]}")
        ends.append(time.monotonic() - started)
    return {"dags": count, "wall_s": max(ends), "each_s": quantiles(ends)}


def load(client: AirflowClient, env: dict, flow_dir: Path, runs: int, width: int) -> dict:
    """`runs` runs of WideFlow(width) triggered at once; wall time, delays, API times."""
    started = time.monotonic()
    triggered = []
    with ApiProbe(client, "WideFlow") as api:
        for _ in range(runs):
            triggered.append(commands.trigger(client, "WideFlow", {"width": width}))
        states = wait_runs(client, [("WideFlow", t.airflow_run_id) for t in triggered])
    wall = time.monotonic() - started
    tis = [ti for t in triggered for ti in task_instances(client, "WideFlow", t.airflow_run_id)]
    checks = [
        json.loads(cmd(env, flow_dir, "-c", PROBE, t.run_id, str(width)).stdout) for t in triggered
    ]
    lost = [
        c
        for c in checks
        if not (c["successful"] and c["splits"] == width and c["values_ok"] and c["count"] == width)
    ]
    return {
        "runs": runs,
        "width": width,
        "wall_s": wall,
        "states": sorted(states.values()),
        "tasks": len(tis),
        "splits_accounted": sum(c["splits"] for c in checks),
        "lost_or_wrong": len(lost),
        "scheduling_delay_s": quantiles(scheduling_delays(tis)),
        "api_answer_s": quantiles(api.times),
        "api_errors": api.errors,
    }


def floor(client: AirflowClient, instance, repeat: int = 5) -> dict:
    """A bare PythonOperator doing nothing vs one mfairflow step doing nothing (FloorFlow's
    start), run one after another on the quiet Airflow: the duration of each task."""
    bare = instance.dags_folder / "bare_floor.py"
    written = time.time()
    bare.write_text(BARE_DAG)
    commands.deploy(client, "bare_floor", str(bare), written, False, 600, lambda _m: None)
    result = {}
    for dag_id, task_id in (("bare_floor", "noop"), ("deployed_00", "start")):
        durations, walls = [], []
        for _ in range(repeat):
            t = commands.trigger(client, dag_id, {})
            wait_runs(client, [(dag_id, t.airflow_run_id)])
            run = client.get_run(dag_id, t.airflow_run_id)
            if run["state"] != "success":
                raise RuntimeError(f"{dag_id} run {t.airflow_run_id} failed")
            (ti,) = [
                ti
                for ti in task_instances(client, dag_id, t.airflow_run_id)
                if ti["task_id"] == task_id
            ]
            durations.append(parse_time(ti["end_date"]) - parse_time(ti["start_date"]))
            walls.append(parse_time(run["end_date"]) - parse_time(run["start_date"]))
        result[dag_id] = {"task_s": quantiles(durations), "run_s": quantiles(walls)}
    return result


def fmt(value, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def write_report(results: dict, meta: dict) -> None:
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "live.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    dbs = list(results)
    head = "| | " + " | ".join(dbs) + " |\n|---|" + "---|" * len(dbs) + "\n"

    def row(label: str, get) -> str:
        cells = []
        for db in dbs:
            try:
                cells.append(get(results[db]))
            except (KeyError, TypeError):
                cells.append("—")
        return f"| {label} | " + " | ".join(cells) + " |\n"

    def q(d: dict) -> str:
        return f"{fmt(d['median'], 2)} / {fmt(d['p95'], 2)} / {fmt(d['max'], 2)}"

    lines = [
        "# Live Airflow under load: PostgreSQL beside SQLite\n\n",
        f"Generated by `make bench-live` (bench/live.py) on {meta['when']}, mfairflow at "
        f"{meta['commit']}; raw data in bench/out/live.json (not committed). "
        f"Airflow {meta['airflow']}, LocalExecutor, steps with `--target local` "
        "(processes on the worker).\n\n",
        f"Machine: {meta['cores']} cores, {meta['platform']}; load average before / after: "
        f"{meta['load_before']} / {meta['load_after']}. {meta['note']}\n\n",
        head,
        row("parallelism (tasks at once)", lambda r: str(r["parallelism"])),
        row("`up` (fresh home) s", lambda r: fmt(r["up_s"])),
        row("20 DAGs deployed together: wall s", lambda r: fmt(r["deploy_20"]["wall_s"])),
    ]
    for key, label in (
        ("wide_4x", f"4 runs x {WIDE} splits at once"),
        ("huge_1x", f"1 run x {HUGE} splits"),
    ):
        lines += [
            row(f"{label}: wall s", lambda r, k=key: fmt(r[k]["wall_s"])),
            row(
                f"{label}: runs succeeded / splits in Metaflow / lost or wrong",
                lambda r, k=key: f"{r[k]['states'].count('success')}/{r[k]['runs']} / "
                f"{r[k]['splits_accounted']} / {r[k]['lost_or_wrong']}",
            ),
            row(
                f"{label}: scheduling delay queued→running s (median / p95 / max)",
                lambda r, k=key: q(r[k]["scheduling_delay_s"]),
            ),
            row(
                f"{label}: API answer s while loaded (median / p95 / max), errors",
                lambda r, k=key: q(r[k]["api_answer_s"]) + f", {r[k]['api_errors']}",
            ),
        ]
    lines += [
        row(
            "floor: bare Airflow task doing nothing, task s (median)",
            lambda r: fmt(r["floor"]["bare_floor"]["task_s"]["median"], 2),
        ),
        row(
            "one mfairflow step doing nothing, task s (median)",
            lambda r: fmt(r["floor"]["deployed_00"]["task_s"]["median"], 2),
        ),
        row(
            "one mfairflow step's cost over the floor s",
            lambda r: fmt(
                r["floor"]["deployed_00"]["task_s"]["median"]
                - r["floor"]["bare_floor"]["task_s"]["median"],
                2,
            ),
        ),
    ]
    (HERE / "live.md").write_text("".join(lines))


def main() -> None:
    import importlib.metadata as md

    meta = {
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "airflow": md.version("apache-airflow"),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "note": os.environ.get(
            "BENCH_LIVE_NOTE", "The machine is shared with other sessions: wall times vary."
        ),
    }
    work = Path(tempfile.mkdtemp(prefix="mfairflow-bench-live-"))
    results = {}
    try:
        for database in DATABASES:
            print(f"== {database}", flush=True)
            results[database] = bench_database(database, work)
            print(json.dumps(results[database], indent=1), flush=True)
    finally:
        meta["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
        if results:
            write_report(results, meta)
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {HERE / 'live.md'}")


if __name__ == "__main__":
    main()
