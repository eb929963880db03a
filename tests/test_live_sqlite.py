"""The SQLite local Airflow (`mfairflow airflow up`'s default), smoke-tested through the CLI as a
user runs it: `eval "$(mfairflow airflow up --home HOME)"` with a home whose name has a space and
a `$(...)`, two `up` at once on that home, deploy, trigger, a run, `down`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, clean_env, free_port

pytestmark = pytest.mark.live


def mfairflow(*args: str, env: dict, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mfairflow", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_sqlite_airflow_through_the_shell(tmp_path):
    base = tmp_path
    (base / ".metaflow").mkdir()
    home = base / "smoke home $(touch pwned)"
    env = clean_env(base, {"METAFLOW_DEFAULT_DATASTORE": "local"})
    env.pop("METAFLOW_DATASTORE_SYSROOT_S3", None)
    port = str(free_port())
    # Two `up` at once on one home: the second waits for the first and reuses its Airflow.
    ups = [mfairflow("airflow", "up", "--home", str(home), "--port", port, env=env, cwd=base)]
    time.sleep(1)
    ups.append(mfairflow("airflow", "up", "--home", str(home), "--port", port, env=env, cwd=base))
    results = [proc.communicate(timeout=600) for proc in ups]
    try:
        for proc, (out, err) in zip(ups, results):
            assert proc.returncode == 0, out + err
        assert results[0][0] == results[1][0]  # the same exports
        assert "reusing it" in results[1][1], results[1][1]
        state = json.loads((home / "mfairflow-airflow.json").read_text())
        assert state["database"] == "sqlite"
        assert set(state["pids"]) == {"api-server", "scheduler", "dag-processor"}
        # The exports are shell words: eval sets them to the exact values, and runs nothing.
        shell = subprocess.run(
            ["bash", "-c", 'eval "$1" && env', "bash", results[0][0]],
            cwd=base,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shell.returncode == 0, shell.stderr
        exported = dict(
            line.split("=", 1) for line in shell.stdout.splitlines() if line.startswith("METAFLOW_")
        )
        assert exported["METAFLOW_AIRFLOW_DAGS_FOLDER"] == str(home.resolve() / "dags")
        assert exported["METAFLOW_AIRFLOW_REST_API_URL"] == f"http://127.0.0.1:{port}"
        assert not (base / "pwned").exists() and not Path("pwned").exists()
        env.update({k: v for k, v in exported.items() if k.startswith("METAFLOW_AIRFLOW")})

        status = subprocess.run(
            [sys.executable, "-m", "mfairflow", "airflow", "status", "--home", str(home)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"database: sqlite ({home.resolve() / 'airflow.db'})" in status.stdout

        flow_dir = base / "linear"
        flow_dir.mkdir()
        shutil.copy(ROOT / "tests" / "e2e_flows" / "linear_flow.py", flow_dir)

        def flow(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "linear_flow.py", "airflow", *args],
                cwd=flow_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )

        created = flow("create", "--target", "local")
        assert created.returncode == 0, created.stdout + created.stderr
        triggered = flow("trigger", "--run-id-file", "rid")
        assert triggered.returncode == 0, triggered.stdout + triggered.stderr
        run_id = (flow_dir / "rid").read_text().strip()
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            state_now = flow("status", run_id).stdout.strip()
            if state_now in ("Succeeded", "Failed"):
                break
            time.sleep(3)
        assert state_now == "Succeeded"
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "mfairflow", "airflow", "down", "--home", str(home)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert down.returncode == 0, down.stderr
    assert not any(alive(rec["pid"]) for rec in state["pids"].values())
    assert not (home / "mfairflow-airflow.json").exists()
