"""Generated DAGs run end to end in real Airflow 3 (`airflow dags test`, SQLite), --target local.

Each flow is compiled with `--target local`, run by Airflow, and its Metaflow run is compared,
artifact by artifact, with `python flow.py run` of the same flow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest
from conftest import ROOT, clean_env

E2E_FLOWS = ROOT / "tests" / "e2e_flows"
PROBE = ROOT / "tests" / "metaflow_probe.py"
PAIR_PROBE = ROOT / "tests" / "metaflow_pair_probe.py"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
FORK_SERVER = ROOT / "tests" / "airflow_fork_server.py"
# airflow script → a copy of the database its `db migrate` wrote (once per test process)
MIGRATED: dict[str, Path] = {}

pytestmark = pytest.mark.e2e


class LocalAirflow:
    """An Airflow 3 installation in a temporary folder, with a migrated SQLite database.

    Airflow 3 commands run through a fork server (tests/airflow_fork_server.py): each is still
    Airflow's own CLI in a process of its own, forked from one that has imported Airflow and built
    the in-process Execution API already, a start-up every `airflow dags test` would repeat. The
    database is migrated once per test process and each later home gets a copy of it.
    """

    def __init__(self, home: Path, airflow: str = AIRFLOW) -> None:
        self.home = home
        self.airflow = airflow
        self.dags = home / "dags"
        self.dags.mkdir(parents=True)
        self.env = clean_env(
            home,
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "METAFLOW_DEFAULT_DATASTORE": "local",
            },
        )
        self.env.pop("METAFLOW_DATASTORE_SYSROOT_S3", None)
        migrated = MIGRATED.get(airflow)
        if migrated:  # the schema and rows `airflow db migrate` writes (only timestamps differ)
            shutil.copyfile(migrated, home / "airflow.db")
        self.server = AirflowForkServer(home, self.env) if airflow == AIRFLOW else None
        self._finalizer = weakref.finalize(self, _close_server, self.server)
        if not migrated:
            proc = self.run_airflow("db", "migrate", timeout=300)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            template = home.parent / f"migrated-{len(MIGRATED)}-airflow.db"
            shutil.copyfile(home / "airflow.db", template)
            MIGRATED[airflow] = template

    def run_airflow(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        """`airflow ARGS...` in this home: through the fork server, or the airflow script."""
        if self.server is not None:
            return self.server.run(args, timeout)
        return subprocess.run(
            [self.airflow, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def close(self) -> None:
        """Stop the fork server (it also stops by itself when this process ends)."""
        self._finalizer()

    def deploy(
        self, flow_file: str, *args: str, extra_files: tuple = (), top_level: tuple = ()
    ) -> Deployed:
        """Copy the flow (and extra files) into its own folder and compile it into the DAGs."""
        source = E2E_FLOWS / flow_file
        flow_dir = self.home / "flows" / source.stem
        flow_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, flow_dir / source.name)
        for extra in extra_files:
            shutil.copy(E2E_FLOWS / extra, flow_dir / extra)
        dag_file = self.dags / f"{source.stem}_dag.py"
        proc = subprocess.run(
            [
                sys.executable,
                source.name,
                *top_level,
                "airflow",
                "create",
                str(dag_file),
                "--target",
                "local",
                *args,
            ],
            cwd=flow_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        token = re.search(r"production:(\S+)", proc.stdout + proc.stderr).group(1)
        dag_id = re.search(r"^DAG_ID = \"(.+)\"$", dag_file.read_text(), re.M).group(1)
        return Deployed(self, flow_dir, source.name, dag_file, dag_id, token)


class Deployed:
    """One compiled flow: run it in Airflow, run it locally, read its Metaflow runs."""

    def __init__(self, airflow, flow_dir, flow_name, dag_file, dag_id, token):
        self.airflow, self.flow_dir, self.flow_file = airflow, flow_dir, flow_name
        self.dag_file, self.dag_id, self.token = dag_file, dag_id, token

    def dags_test(self, conf: dict | None = None) -> tuple[int, str, float]:
        cmd = [self.airflow.airflow, "dags", "test", self.dag_id]
        if self.airflow.airflow == AIRFLOW:  # Airflow 3 can parse just this file
            cmd += ["-f", str(self.dag_file)]
        if conf is not None:
            cmd += ["--conf", json.dumps(conf)]
        if self.airflow.server is not None:
            self.airflow.server.wait_ready()  # its start-up is not part of the run
        started = time.monotonic()
        proc = self.airflow.run_airflow(*cmd[1:], timeout=600)
        return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started

    def local_run(self, *args: str) -> str:
        return self.start_local_run(*args).finish()

    def start_local_run(self, *args: str) -> LocalRun:
        """`python flow.py run ARGS` started in the background (its output in files)."""
        return LocalRun(self, args)

    def probe(self, run_id: str | None = None, namespace: str | None = None) -> dict:
        ns = namespace or f"production:{self.token}"
        cmd = [sys.executable, str(PROBE), ns, self.flow_name]
        if run_id:
            cmd.append(run_id)
        proc = subprocess.run(
            cmd,
            cwd=self.flow_dir,
            env=self.airflow.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(proc.stdout)

    def probe_pair(self, local_run_id: str) -> dict:
        """Both runs in one probe process: this DAG's latest run (its production namespace)
        and the local run, each with the lineage of its tasks; keys airflow, local,
        airflow_lineage, local_lineage (what metaflow_probe.py and metaflow_lineage_probe.py
        print for each)."""
        cmd = [sys.executable, str(PAIR_PROBE), f"production:{self.token}", self.flow_name]
        proc = subprocess.run(
            [*cmd, local_run_id],
            cwd=self.flow_dir,
            env=self.airflow.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(proc.stdout)

    @property
    def flow_name(self) -> str:
        return re.search(r'^FLOW_NAME = "(.+)"$', self.dag_file.read_text(), re.M).group(1)


class AirflowForkServer:
    """Client of tests/airflow_fork_server.py: `airflow ARGS` as a CompletedProcess."""

    def __init__(self, home: Path, env: dict) -> None:
        self.folder = home / "fork-server"
        self.folder.mkdir()
        self.count = 0
        self.ready: dict | None = None
        with open(self.folder / "server.log", "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(FORK_SERVER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                text=True,
            )

    def wait_ready(self) -> dict:
        if self.ready is None:
            line = self.proc.stdout.readline()
            assert line, "the fork server died:\n" + (self.folder / "server.log").read_text()
            self.ready = json.loads(line)
        return self.ready

    def run(self, args: tuple, timeout: float) -> subprocess.CompletedProcess:
        self.wait_ready()
        self.count += 1
        out, err = (self.folder / f"{self.count}.{name}" for name in ("out", "err"))
        request = {"argv": list(args), "stdout": str(out), "stderr": str(err), "timeout": timeout}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the fork server died:\n" + (self.folder / "server.log").read_text()
        reply = json.loads(line)
        if reply.get("timeout"):
            raise subprocess.TimeoutExpired(["airflow", *args], timeout)
        return subprocess.CompletedProcess(
            ["airflow", *args], reply["code"], out.read_text(), err.read_text()
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # the server exits at the end of its input
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def _close_server(server: AirflowForkServer | None) -> None:
    if server is not None:
        server.close()


class LocalRun:
    """A `python flow.py run` in the background, so that it can overlap the Airflow run."""

    def __init__(self, deployed: Deployed, args: tuple) -> None:
        self.run_id_file = deployed.flow_dir / "local_run_id"
        self.run_id_file.unlink(missing_ok=True)
        self.output = deployed.flow_dir / "local_run.log"
        datastore = deployed.flow_dir / ".metaflow"
        fresh = not datastore.exists()
        cmd = [sys.executable, deployed.flow_file, "run", "--run-id-file", str(self.run_id_file)]
        with open(self.output, "w") as output:
            self.proc = subprocess.Popen(
                [*cmd, *args],
                cwd=deployed.flow_dir,
                env=deployed.airflow.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )
        # A first run creates the flow's local datastore folder without tolerating one made
        # meanwhile: let it do so before anything else (the Airflow run's tasks) writes there.
        while fresh and not datastore.exists() and self.proc.poll() is None:
            time.sleep(0.05)

    def finish(self) -> str:
        """Wait for the run; its run id (it must have succeeded)."""
        try:
            code = self.proc.wait(timeout=600)
        finally:
            self.stop()
        assert code == 0, self.output.read_text()
        return self.run_id_file.read_text().strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def artifacts(run: dict) -> dict:
    """step → list of (foreach stack, artifacts), the part two runs of one flow must share."""
    return {
        step: [(task["stack"], task["artifacts"]) for task in tasks]
        for step, tasks in run["steps"].items()
    }


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    airflow = LocalAirflow(tmp_path_factory.mktemp("airflow-home"))
    yield airflow
    airflow.close()


@pytest.mark.parametrize(
    "flow_file",
    [
        "linear_flow.py",
        "branch_flow.py",
        "nested_branch_flow.py",
        "foreach_flow.py",
        "foreach_strings_flow.py",
    ],
)
def test_dag_run_matches_local_run(airflow, flow_file):
    deployed = airflow.deploy(flow_file, "--tag", "e2e")
    local_run = deployed.start_local_run()  # beside the Airflow run: both wait on steps
    try:
        code, log, _ = deployed.dags_test()
        assert code == 0, log[-5000:]
        local_run_id = local_run.finish()
    finally:
        local_run.stop()
    found = deployed.probe_pair(local_run_id)  # both runs, one probe process
    in_airflow = found["airflow"]
    assert in_airflow["successful"], in_airflow
    assert f"production:{deployed.token}" in in_airflow["system_tags"]
    assert "e2e" in in_airflow["user_tags"]
    assert in_airflow["pathspec"].split("/")[1].startswith("airflow-")
    assert artifacts(in_airflow) == artifacts(found["local"])


def test_foreach_maps_ten_tasks_and_join_sees_them_in_order(airflow):
    deployed = airflow.deploy("foreach_flow.py")
    code, log, _ = deployed.dags_test()
    assert code == 0, log[-5000:]
    assert len(re.findall(r"\[DAG TEST\] end task task_id=process map_index=\d", log)) == 10
    run = deployed.probe()
    assert [t["index"] for t in run["steps"]["process"]] == list(range(10))
    assert [t["id"] for t in run["steps"]["process"]] == [f"t-{i}" for i in range(10)]
    join = run["steps"]["join"][0]["artifacts"]
    assert join["results"] == repr([i * 2 for i in range(10)])
    assert join["positions"] == repr(list(range(10)))


def test_parameters_defaults_and_overrides(airflow):
    deployed = airflow.deploy("params_flow.py")
    code, log, _ = deployed.dags_test()
    assert code == 0, log[-5000:]
    defaults = deployed.probe()["steps"]["start"][0]["artifacts"]
    local = deployed.probe(run_id=deployed.local_run(), namespace="-")
    assert defaults == local["steps"]["start"][0]["artifacts"]
    assert defaults["types"] == repr(
        {"count": "int", "rate": "float", "label": "str", "flag": "bool", "config": "dict"}
    )

    conf = {
        "count": 7,
        "rate": 1.25,
        "label": 'it\'s {{ x }} "q"',
        "flag": True,
        "config": {"depth": 5, "names": []},
    }
    code, log, _ = deployed.dags_test(conf=conf)
    assert code == 0, log[-5000:]
    overridden = deployed.probe()["steps"]["start"][0]["artifacts"]
    assert overridden["seen"] == repr(conf)
    local = deployed.probe(
        run_id=deployed.local_run(
            "--count",
            "7",
            "--rate",
            "1.25",
            "--label",
            conf["label"],
            "--flag",
            "True",
            "--config",
            json.dumps(conf["config"]),
        ),
        namespace="-",
    )
    assert overridden == local["steps"]["start"][0]["artifacts"]


def test_retry_recovers_from_a_failed_first_attempt(airflow):
    deployed = airflow.deploy("retry_flow.py")
    code, log, _ = deployed.dags_test()
    assert code == 0, log[-5000:]
    assert "up_for_retry" in log
    run = deployed.probe()
    assert run["successful"]
    assert run["steps"]["flaky"][0]["artifacts"]["attempt"] == "1"


def test_failing_step_fails_the_dag_run_and_stops_downstream(airflow):
    deployed = airflow.deploy("fail_flow.py")
    code, log, _ = deployed.dags_test()
    assert code != 0
    assert "always fails" in log
    run = deployed.probe()
    assert not run["successful"]
    assert "end" not in run["steps"]


def test_timeout_kills_the_step(airflow):
    deployed = airflow.deploy("timeout_flow.py")
    code, log, elapsed = deployed.dags_test()
    assert code != 0
    assert "timed out" in log.lower()
    assert elapsed < 30 + 25, f"the 30 s sleep was not cut short ({elapsed:.0f} s)"
    run = deployed.probe()
    assert "end" not in run["steps"]


def test_foreach_dag_runs_on_airflow_2(tmp_path):
    af2_python = os.environ.get("MFAIRFLOW_AF2_PYTHON")
    assert af2_python, "MFAIRFLOW_AF2_PYTHON must name the Airflow 2.10 python (make install-af2)"
    airflow2 = LocalAirflow(tmp_path / "airflow2", str(Path(af2_python).with_name("airflow")))
    deployed = airflow2.deploy("foreach_flow.py")
    code, log, _ = deployed.dags_test()
    assert code == 0, log[-5000:]
    assert "{taskinstance.py:" in log  # Airflow 2's own task runner ran it
    run = deployed.probe()
    assert run["successful"]
    assert run["steps"]["join"][0]["artifacts"]["results"] == repr([i * 2 for i in range(10)])
