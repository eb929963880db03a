"""Smoke test on a live Airflow 2.10 (the second virtualenv): /api/v1 with basic auth.

Started by the same code as `mfairflow airflow up`, run from the Airflow 2.10 virtualenv
(webserver + scheduler, SequentialExecutor on SQLite); deploy, trigger, success.
"""

from __future__ import annotations

import json
import os
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
    up = mfairflow_af2("airflow", "up", "--home", str(home), "--port", str(free_port()), env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        exports = dict(
            line[len("export ") :].split("=", 1)
            for line in up.stdout.splitlines()
            if line.startswith("export ")
        )
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
    finally:
        down = mfairflow_af2("airflow", "down", "--home", str(home), env=env)
        assert down.returncode == 0, down.stderr
