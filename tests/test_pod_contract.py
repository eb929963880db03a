"""The pod contract without a cluster: each task's container command runs as a local process.

A flow is deployed for real to an S3 server on loopback (code package uploaded); then, in
dependency order, every KubernetesPodOperator of the generated DAG is rendered by Airflow's own
templating and built into the pod it would create, and that pod's command, arguments and
environment run in an empty folder, as a container would run them: the code package is
downloaded and unpacked there, Metaflow runs the step against S3, and a foreach's XCom file
feeds its mapped body, as the operator's sidecar would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, compile_flow
from dag_inspect import load_dag, pod_manifest, write_kubeconfig
from test_deploy import deploy_env

RUN_ID = "manual__2026-11-25T10:00:00+00:00"


class TaskInstance:
    """What the templates read of a task instance, with XCom from the tasks already run."""

    def __init__(self, task_id: str, map_index: int, xcom: dict) -> None:
        self.task_id, self.map_index, self.try_number, self._xcom = task_id, map_index, 1, xcom

    def xcom_pull(self, task_ids=None, **_):
        return self._xcom.get(task_ids)


def run_pod(operator, dag, tmp: Path, env_extra: dict, xcom: dict, map_index: int = -1):
    """Render, build and run one pod's container locally; return its XCom value (or None)."""
    ti = TaskInstance(operator.task_id, map_index, xcom)
    context = {
        "dag": dag,
        "run_id": RUN_ID,
        "ti": ti,
        "task_instance": ti,
        "params": {name: dag.params[name] for name in dag.params},
    }
    operator.render_template_fields(context, jinja_env=dag.get_template_env())
    manifest = pod_manifest(operator, write_kubeconfig(tmp))
    (container,) = [c for c in manifest["spec"]["containers"] if c["name"] == "base"]
    workdir = tmp / f"pod-{operator.task_id}-{map_index}"
    workdir.mkdir()
    xcom_file = workdir / "xcom.json"
    env = {item["name"]: item.get("value", "") for item in container.get("env", [])}
    env.update(env_extra)
    env["MFAIRFLOW_XCOM_FILE"] = str(xcom_file)
    proc = subprocess.run(
        container["command"] + container.get("args", []),
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{operator.task_id}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(xcom_file.read_text()) if xcom_file.exists() else None, proc


@pytest.mark.parametrize("flow_file", ["linear_flow.py", "foreach_strings_flow.py"])
def test_pods_fetch_the_code_package_and_run_their_steps(tmp_path, s3_endpoint, flow_file):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    home = tmp_path / "home"
    home.mkdir()
    env = deploy_env(s3_endpoint, "alice", home)
    deployed = compile_flow(
        ROOT / "tests" / "e2e_flows" / flow_file, tmp_path, env=env, offline=False
    )
    assert deployed.proc.returncode == 0, deployed.proc.stderr
    dag = load_dag(deployed.dag_path)
    # The "image": this interpreter's bin first on PATH; no pip install (boto3 is here).
    pod_env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "METAFLOW_SKIP_INSTALL_DEPENDENCIES": "1",
        **{k: v for k, v in env.items() if k.startswith("AWS_")},
    }
    xcom: dict = {}
    outputs = {}
    for task in dag.topological_sort():
        if hasattr(task, "partial_kwargs"):  # a mapped foreach body: one pod per split
            splits = xcom[task.expand_input.value["arguments"].operator.task_id]
            for index, split in enumerate(splits):
                pod = KubernetesPodOperator(
                    task_id=task.task_id, **task.partial_kwargs, arguments=split
                )
                run_pod(pod, dag, tmp_path, pod_env, xcom, map_index=index)
            continue
        value, proc = run_pod(task, dag, tmp_path, pod_env, xcom)
        outputs[task.task_id] = proc.stdout + proc.stderr
        if value is not None:
            xcom[task.task_id] = value
    assert "Code package downloaded." in outputs["start"]

    # What Metaflow recorded in S3, read back with the client (local metadata is per pod, so
    # read artifacts through the datastore by pathspec).
    flow_name = {"linear_flow.py": "LinearFlow", "foreach_strings_flow.py": "ForeachStringsFlow"}[
        flow_file
    ]
    code = (
        "import json, sys\n"
        "from metaflow import namespace\n"
        "from metaflow.datastore import FlowDataStore\n"
        "from metaflow.plugins import DATASTORES\n"
        "impl = [d for d in DATASTORES if d.TYPE == 's3'][0]\n"
        "root = impl.get_datastore_root_from_config(print)\n"
        "fds = FlowDataStore(sys.argv[1], None, storage_impl=impl, ds_root=root)\n"
        "run = sys.argv[2]\n"
        "task = fds.get_task_datastore(run, 'end', 't-0')\n"
        "print(json.dumps({k: repr(task[k]) for k in sys.argv[3:]}))\n"
    )
    import hashlib

    run = "airflow-" + hashlib.md5(f"{flow_name}-{RUN_ID}".encode()).hexdigest()[:12]
    names = ["total"] if flow_file == "linear_flow.py" else ["joined"]
    proc = subprocess.run(
        [sys.executable, "-c", code, flow_name, run, *names],
        env={**os.environ, **env, "METAFLOW_DEFAULT_DATASTORE": "s3"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    values = json.loads(proc.stdout.strip().splitlines()[-1])
    if flow_file == "linear_flow.py":
        assert values == {"total": repr(11 + 33)}
    else:
        words = ["alpha", "beta", "gamma", 'it\'s "quoted" {{ not jinja }}']
        assert values == {"joined": repr("|".join(w.upper() for w in words))}
