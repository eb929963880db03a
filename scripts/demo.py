"""`make demo`: compile the example flows, run one DAG in real Airflow, show the Metaflow run.

1. examples/my_flow.py (the guide's flow) → a Kubernetes DAG, rendered offline (no cloud account).
2. examples/demo_flow.py → a local-target DAG, run with `airflow dags test` on SQLite.
3. The Metaflow client reads the run in the deployment's production namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(example: str, out: str) -> int:
    out_dir = (ROOT / out).resolve()
    dags = out_dir / "dags"
    work = out_dir / "flows"
    airflow_home = out_dir / "airflow"
    for folder in (dags, work, airflow_home):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "AIRFLOW"))}
    env.update(
        {
            "METAFLOW_HOME": str(out_dir / "metaflow-home"),
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    env.setdefault("USER", "demo")
    started = time.monotonic()

    # 1. The guide's flow as a Kubernetes DAG, rendered offline against an example bucket.
    example_path = ROOT / example
    shutil.copy(example_path, work / example_path.name)
    k8s_dag = dags / "my_airflow_dag.py"
    offline_env = {
        **env,
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": "s3://example-bucket/metaflow",
    }
    run(
        [sys.executable, example_path.name, "airflow", "create", str(k8s_dag), "--offline"],
        cwd=work,
        env=offline_env,
    )
    print(f"\n==> Kubernetes DAG for {example}: {k8s_dag.relative_to(ROOT)}")

    # 2. The demo flow as a local DAG, run by Airflow itself.
    demo_dir = work / "demo"
    demo_dir.mkdir()
    shutil.copy(ROOT / "examples" / "demo_flow.py", demo_dir / "demo_flow.py")
    local_dag = dags / "demo_dag.py"
    run(
        [
            sys.executable,
            "demo_flow.py",
            "airflow",
            "create",
            str(local_dag),
            "--target",
            "local",
            "--tag",
            "demo",
        ],
        cwd=demo_dir,
        env=env,
    )
    print(f"==> Local DAG: {local_dag.relative_to(ROOT)}")
    airflow = str(Path(sys.executable).with_name("airflow"))
    run([airflow, "db", "migrate"], cwd=out_dir, env=env, quiet=True)
    print("==> airflow dags test DemoFlow (conf: count=4)")
    run(
        [airflow, "dags", "test", "DemoFlow", "--conf", json.dumps({"count": 4})],
        cwd=out_dir,
        env=env,
        quiet=True,
    )

    # 3. What Metaflow recorded.
    code = (
        "from metaflow import Flow, namespace\n"
        "from metaflow.plugins.aws.step_functions.production_token import load_token\n"
        "namespace('production:' + load_token('demoflow'))\n"
        "run = Flow('DemoFlow').latest_run\n"
        "print('Metaflow run:', run.pathspec, 'successful:', run.successful)\n"
        "print('tags:', sorted(run.user_tags))\n"
        "print('artifact result =', run['total'].task.data.result,"
        " 'squares =', run['total'].task.data.squares)\n"
    )
    run([sys.executable, "-c", code], cwd=demo_dir, env=env)
    print(f"==> demo finished in {time.monotonic() - started:.0f} s; DAG files in {dags}")
    return 0


def run(cmd: list[str], *, cwd: Path, env: dict, quiet: bool = False) -> None:
    """Run a command; on failure show its output and stop the demo."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:])
        sys.stderr.write(proc.stderr[-6000:])
        raise SystemExit(f"demo step failed ({proc.returncode}): {' '.join(cmd)}")
    if not quiet:
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)


if __name__ == "__main__":
    raise SystemExit(
        main(*(sys.argv[1:3] if len(sys.argv) > 2 else ("examples/my_flow.py", "out")))
    )
