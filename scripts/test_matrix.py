"""`make test-matrix`: the supported Airflow range, measured (not part of `make test`).

    python scripts/test_matrix.py --snapshots snapshots --load PYTHON [--load PYTHON ...]
                                  [--demo PYTHON ...]

``--load PYTHON``: load every snapshot DAG file with that interpreter's Airflow (DagBag, through
tests/airflow_probe.py) and require zero import errors and one DAG per file. ``--demo PYTHON``:
run scripts/demo.py with that interpreter (compile the demo flow, `airflow dags test` it end to
end on SQLite). Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def airflow_version(python: str) -> str:
    """The Airflow version installed for ``python``."""
    out = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def load_snapshots(python: str, snapshots: Path) -> tuple[bool, str]:
    """Load every snapshot with DagBag under ``python``; (ok, summary)."""
    files = sorted(p for p in snapshots.rglob("*.py") if "__pycache__" not in p.parts)
    with tempfile.TemporaryDirectory(prefix="mfairflow-matrix-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "METAFLOW_"))}
        env.update({"AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
        proc = subprocess.run(
            [python, str(ROOT / "tests" / "airflow_probe.py"), str(snapshots)],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
        )
    if proc.returncode != 0:
        return False, f"probe failed ({proc.returncode}): {proc.stderr[-2000:]}"
    seen = json.loads(proc.stdout)
    errors = seen["import_errors"]
    ok = not errors and len(seen["dags"]) >= len(files)
    summary = f"{len(files)} files, {len(seen['dags'])} DAGs, {len(errors)} import errors"
    for path, message in sorted(errors.items()):
        summary += f"\n    {path}: {message.strip().splitlines()[-1]}"
    return ok, summary


def run_demo(python: str) -> tuple[bool, str]:
    """scripts/demo.py under ``python``; (ok, last lines)."""
    out = f"out/matrix-{airflow_version(python)}"
    proc = subprocess.run(
        [python, str(ROOT / "scripts" / "demo.py"), "examples/my_flow.py", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
    return proc.returncode == 0, tail


def main(argv: list[str]) -> int:
    """Run the requested checks; 0 if all passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", default=str(ROOT / "snapshots"))
    parser.add_argument("--load", action="append", default=[], metavar="PYTHON")
    parser.add_argument("--demo", action="append", default=[], metavar="PYTHON")
    args = parser.parse_args(argv)
    failed = 0
    for python in args.load:
        started = time.monotonic()
        ok, summary = load_snapshots(python, Path(args.snapshots))
        failed += not ok
        took = time.monotonic() - started
        print(
            f"{'ok  ' if ok else 'FAIL'} Airflow {airflow_version(python)}: {summary} "
            f"({took:.0f} s)"
        )
    for python in args.demo:
        started = time.monotonic()
        ok, tail = run_demo(python)
        failed += not ok
        took = time.monotonic() - started
        print(
            f"{'ok  ' if ok else 'FAIL'} demo on Airflow {airflow_version(python)} "
            f"({took:.0f} s)\n    {tail}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
