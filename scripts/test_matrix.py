"""`make test-matrix`: the supported Airflow range, measured (not part of `make test`).

    python scripts/test_matrix.py --snapshots snapshots --load PYTHON [--load PYTHON ...]
                                  [--demo PYTHON ...]

``--load PYTHON``: load every snapshot DAG file with that interpreter's Airflow (DagBag, through
tests/airflow_probe.py) and require zero import errors and one DAG per file. ``--demo PYTHON``:
compile examples/demo_flow.py for the local target with that interpreter and run it end to end
with `airflow dags test` on SQLite (as scripts/demo.py does), then check the Metaflow run.
Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDS = re.compile(r"needs Airflow (\d+\.\d+) or later")


def airflow_version(python: str) -> str:
    """The Airflow version installed for ``python``."""
    out = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def dag_id(path: Path) -> str:
    """The DAG id a generated DAG file declares (its module-level ``DAG_ID = "..."``), else
    the file's path (a file of unknown id shares its DAG folder with no clash)."""
    for node in ast.parse(path.read_text(), str(path)).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["DAG_ID"]
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    return str(path)


def dag_folders(files: list[Path]) -> list[list[Path]]:
    """The snapshots split into DAG folders, no DAG id twice in one: a folder of snapshots is
    split only where its files share a DAG id (snapshots/org holds the same flows as snapshots/
    compiled with an organization config, snapshots/datastores one flow for two datastores:
    the same DAG ids, as in separate deployments)."""
    groups: dict[tuple[Path, int], list[Path]] = {}
    seen: dict[tuple[Path, str], int] = {}
    for path in files:
        key = (path.parent, dag_id(path))
        seen[key] = seen.get(key, -1) + 1
        groups.setdefault((path.parent, seen[key]), []).append(path)
    return [groups[key] for key in sorted(groups)]


def load_snapshots(python: str, snapshots: Path) -> tuple[bool, str]:
    """Load every snapshot with DagBag under ``python``; (ok, summary).

    Each snapshot folder is loaded as a DAG folder of its own, split where two of its files
    declare the same DAG id (dag_folders).
    """
    files = sorted(p for p in snapshots.rglob("*.py") if "__pycache__" not in p.parts)
    dags, errors = 0, {}
    for group in dag_folders(files):
        folder = group[0].parent
        with tempfile.TemporaryDirectory(prefix="mfairflow-matrix-") as tmp:
            home, dag_folder = Path(tmp) / "home", Path(tmp) / "dags"
            dag_folder.mkdir()
            for path in group:
                shutil.copy(path, dag_folder / path.name)
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "METAFLOW_"))
            }
            env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
            # Import correctness, not speed: a loaded machine must not turn into import errors.
            env["AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"] = "300"
            # The organization example's DAGs import its failure callback package.
            env["PYTHONPATH"] = str(ROOT / "examples" / "org")
            proc = subprocess.run(
                [python, str(ROOT / "tests" / "airflow_probe.py"), str(dag_folder)],
                capture_output=True,
                text=True,
                env=env,
                timeout=1800,
            )
        if proc.returncode != 0:
            return False, f"probe failed in {folder} ({proc.returncode}): {proc.stderr[-2000:]}"
        seen = json.loads(proc.stdout)
        dags += len(seen["dags"])
        for path, message in seen["import_errors"].items():
            errors[f"{folder.relative_to(snapshots.parent)}/{Path(path).name}"] = message
    # A DAG that uses what this Airflow line does not have says so itself ("needs Airflow X or
    # later", README: Supported Airflow versions): counted apart, not as a failure, when X is
    # indeed newer than the line under test.
    version = tuple(int(part) for part in airflow_version(python).split(".")[:2])
    needs_newer = {
        path: message
        for path, message in errors.items()
        if (found := NEEDS.search(message))
        and tuple(int(part) for part in found.group(1).split(".")) > version
    }
    for path in needs_newer:
        del errors[path]
    ok = not errors and dags + len(needs_newer) >= len(files)
    summary = f"{len(files)} files, {dags} DAGs, {len(errors)} import errors"
    if needs_newer:
        summary += f", {len(needs_newer)} that say they need a newer Airflow"
    for path, message in sorted({**errors, **needs_newer}.items()):
        summary += f"\n    {path}: {message.strip().splitlines()[-1]}"
    return ok, summary


DEMO_CHECK = (
    "from metaflow import Flow, namespace\n"
    "from metaflow.plugins.aws.step_functions.production_token import load_token\n"
    "namespace('production:' + load_token('demoflow'))\n"
    "run = Flow('DemoFlow').latest_run\n"
    "assert run.successful, run\n"
    "print(run.pathspec, 'successful; result =', run['total'].task.data.result)\n"
)


def run_demo(python: str) -> tuple[bool, str]:
    """The demo flow (examples/demo_flow.py) compiled for the local target and run end to end
    with ``airflow dags test`` under ``python``'s Airflow; (ok, what happened).

    As scripts/demo.py does, but with the database command each Airflow line has (`db migrate`
    from 2.7; `db init` before).
    """
    python = os.path.abspath(python)  # not resolved: a venv's python is a symlink out of it
    version = airflow_version(python)
    airflow = str(Path(python).with_name("airflow"))
    with tempfile.TemporaryDirectory(prefix="mfairflow-matrix-demo-") as tmp:
        base = Path(tmp)
        dags, flow_dir, home = base / "dags", base / "flow", base / "airflow"
        for folder in (dags, flow_dir, home):
            folder.mkdir()
        shutil.copy(ROOT / "examples" / "demo_flow.py", flow_dir / "demo_flow.py")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "METAFLOW_"))}
        env.update(
            {
                "METAFLOW_HOME": str(base / "metaflow-home"),
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            }
        )
        env.setdefault("USER", "demo")
        old = tuple(int(x) for x in version.split(".")[:2]) < (2, 7)
        steps = [
            ([python, "demo_flow.py", "airflow", "create", str(dags / "demo_dag.py"),
              "--target", "local"], flow_dir),
            ([airflow, "db", "init" if old else "migrate"], base),
            ([airflow, "dags", "test", "DemoFlow", "--conf", json.dumps({"count": 4})], base),
            ([python, "-c", DEMO_CHECK], flow_dir),
        ]  # fmt: skip
        for cmd, cwd in steps:
            proc = subprocess.run(
                cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
            )
            if proc.returncode != 0:
                tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
                return False, f"{' '.join(cmd[1:4])} failed ({proc.returncode}):\n    {tail}"
        return True, proc.stdout.strip()


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
