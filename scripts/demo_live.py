"""`make demo-live`: the live path, as a user types it.

`mfairflow airflow up` → `python flow.py airflow create` (waits until Airflow loaded the DAG) →
`airflow trigger --<param> ...` → `airflow status` until it ends → the Metaflow run's artifacts →
`airflow delete` → `mfairflow airflow down`. Every phase is timed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def timed(label: str, command: list, **kwargs) -> subprocess.CompletedProcess:
    started = time.monotonic()
    print(f"$ {' '.join(command)}", flush=True)
    proc = subprocess.run(command, capture_output=True, text=True, **kwargs)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    print(f"  [{label}: {time.monotonic() - started:.1f} s]\n", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed (exit {proc.returncode})")
    return proc


def main(example: str, out: str) -> int:
    base = (ROOT / out / "live").resolve()
    shutil.rmtree(base, ignore_errors=True)
    (base / ".metaflow").mkdir(parents=True)
    flow_dir = base / "flow"
    flow_dir.mkdir()
    flow = flow_dir / Path(example).name
    shutil.copy(ROOT / example, flow)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "AIRFLOW"))}
    env.update(
        {"METAFLOW_HOME": str(base / "metaflow-home"), "METAFLOW_DEFAULT_DATASTORE": "local"}
    )
    env.setdefault("USER", "demo")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    home = str(base / "airflow")
    mfairflow = str(Path(PY).with_name("mfairflow"))
    total = time.monotonic()
    try:
        up = timed(
            "airflow up", [mfairflow, "airflow", "up", "--home", home, "--port", port], env=env
        )
        for line in up.stdout.splitlines():  # `export KEY=WORD`, WORD a shell word
            key, value = shlex.split(line)[1].split("=", 1)
            env[key] = value
        run = dict(cwd=flow_dir, env=env)
        timed(
            "create (until Airflow loaded it)",
            [PY, flow.name, "airflow", "create", "--target", "local"],
            **run,
        )
        timed("trigger", [PY, flow.name, "airflow", "trigger", "--run-id-file", "run_id"], **run)
        run_id = (flow_dir / "run_id").read_text().strip()
        started = time.monotonic()
        state = ""
        while state not in ("Succeeded", "Failed"):
            time.sleep(3)
            state = subprocess.run(
                [PY, flow.name, "airflow", "status", run_id], capture_output=True, text=True, **run
            ).stdout.strip()
        print(f"run {run_id}: {state}  [run: {time.monotonic() - started:.1f} s]\n")
        code = (
            "from metaflow import Flow, namespace; namespace(None); "
            "r = Flow(open('flow_name').read()).latest_run; "
            "print(r.pathspec, 'successful' if r.successful else 'FAILED'); "
            "[print(' ', s.id, {a.id: a.data for a in s.task if not a.id.startswith('_') "
            "and a.id != 'name'}) for s in r]"
        )
        name = subprocess.run(
            [
                PY,
                "-c",
                "import re,sys;print(re.search(r'class (\\w+)\\(Flow"
                "Spec', open(sys.argv[1]).read()).group(1), end='')",
                flow.name,
            ],
            capture_output=True,
            text=True,
            **run,
        ).stdout
        (flow_dir / "flow_name").write_text(name)
        timed("read the Metaflow run", [PY, "-c", code], **run)
        timed("delete", [PY, flow.name, "airflow", "delete"], **run)
    finally:
        timed("airflow down", [mfairflow, "airflow", "down", "--home", home], env=env)
    print(f"demo-live total: {time.monotonic() - total:.1f} s")
    return 0 if state == "Succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "out"))
