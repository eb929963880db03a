"""The pod contract without a cluster: each task's container command runs as a local process.

For each of the guide's datastores (S3 on moto, Azure Blob Storage on Azurite, GCS on
fake-gcs-server, all on loopback), a flow is deployed for real (code package uploaded); then, in
dependency order, every KubernetesPodOperator of the generated DAG is rendered by Airflow's own
templating and built into the pod it would create, and that pod's command, arguments and
environment run in an empty folder, as a container would run them: the code package is
downloaded and unpacked there (by boto3, `download-azure-blob` or `download-gcp-object`, as
Metaflow's bootstrap does), Metaflow runs the step against the datastore, and a foreach's XCom file
feeds its mapped body, as the operator's sidecar would.

The "image" is a stock one: a fresh virtualenv of the base Python with nothing installed (no
Metaflow, no mfairflow, no cloud client), never the project's own virtualenv; the pods' own
bootstrap installs what Metaflow's pods install, and Metaflow and the extensions come from the
code package. The Pod fields a kubelet gives the container through the downward API (its name,
namespace, uid, service account, node IP) are filled in as a kubelet would. The replayed flows
include `@kubernetes` steps (the guide's quick start, the organization example), whose Metaflow
decorator reads those fields.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, compile_flow
from dag_inspect import load_dag, pod_manifest, write_kubeconfig

RUN_ID = "manual__2026-11-25T10:00:00+00:00"


class TaskInstance:
    """What the templates read of a task instance, with XCom from the tasks already run."""

    def __init__(self, task_id: str, map_index: int, xcom: dict) -> None:
        self.task_id, self.map_index, self.try_number, self._xcom = task_id, map_index, 1, xcom

    def xcom_pull(self, task_ids=None, **_):
        return self._xcom.get(task_ids)


class DagRun:
    """What the templates read of the DAG run: its conf (a resumed run names its origin)."""

    def __init__(self, conf: dict) -> None:
        self.conf = conf


def run_pod(
    operator,
    dag,
    tmp: Path,
    env_extra: dict,
    xcom: dict,
    map_index: int = -1,
    run_id: str = RUN_ID,
    conf: dict | None = None,
    check: bool = True,
):
    """Render, build and run one pod's container locally; return its XCom value (or None) and
    the process. ``conf``: the DAG run's conf (its values override the params, as in Airflow)."""
    ti = TaskInstance(operator.task_id, map_index, xcom)
    conf = conf or {}
    context = {
        "dag": dag,
        "dag_run": DagRun(conf),
        "run_id": run_id,
        "ti": ti,
        "task_instance": ti,
        "params": {name: conf.get(name, dag.params[name]) for name in dag.params},
    }
    operator.render_template_fields(context, jinja_env=dag.get_template_env())
    manifest = pod_manifest(operator, write_kubeconfig(tmp))
    (container,) = [c for c in manifest["spec"]["containers"] if c["name"] == "base"]
    run_dir = hashlib.md5(run_id.encode()).hexdigest()[:8]
    workdir = tmp / f"pod-{run_dir}-{operator.task_id}-{map_index}"
    workdir.mkdir()
    xcom_file = workdir / "xcom.json"
    env = {item["name"]: container_value(item, manifest) for item in container.get("env", [])}
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
    if check:
        assert (
            proc.returncode == 0
        ), f"{operator.task_id}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    if proc.returncode != 0:
        return None, proc
    return json.loads(xcom_file.read_text()) if xcom_file.exists() else None, proc


# What a kubelet puts in a container for the downward API's field paths (the node is this host).
def pod_field(manifest: dict, path: str) -> str:
    """The value of a Pod field path, as the kubelet resolves it for this pod."""
    metadata, spec = manifest["metadata"], manifest["spec"]
    fields = {
        "metadata.name": metadata["name"],
        "metadata.namespace": metadata["namespace"],
        # The API server assigns the uid when the pod is created.
        "metadata.uid": metadata.setdefault("uid", str(uuid.uuid4())),
        # Admission gives a pod without one the namespace's "default" service account.
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        "status.hostIP": "127.0.0.1",
    }
    return fields[path]


def container_value(item: dict, manifest: dict) -> str:
    """An env entry's value in the running container: literal, or a Pod field."""
    source = item.get("valueFrom")
    if source is None:
        return item.get("value", "")
    assert set(source) == {"fieldRef"}, f"{item['name']}: only Pod fields are expected"
    return pod_field(manifest, source["fieldRef"]["fieldPath"])


def stock_image(folder: Path) -> Path:
    """A fresh virtualenv of the base Python with nothing installed: a stock image's Python.

    The pods' bootstrap installs what Metaflow installs into it (pip from PyPI); Metaflow and
    the extensions come from the code package.
    """
    base = Path(sys.base_prefix) / "bin" / "python3"
    image = folder / "image"
    subprocess.run([str(base), "-m", "venv", str(image)], check=True, timeout=300)
    bare = subprocess.run(
        [str(image / "bin" / "python"), "-c", "import metaflow"], capture_output=True, timeout=60
    )
    assert bare.returncode != 0, "the stock image must not have Metaflow"
    return image / "bin"


FLOWS = {
    # flow file: (flow name, the end step's artifacts and their values)
    "linear_flow.py": ("LinearFlow", {"total": 11 + 33}),
    "foreach_strings_flow.py": (
        "ForeachStringsFlow",
        {"joined": "ALPHA|BETA|GAMMA|" + 'IT\'S "QUOTED" {{ NOT JINJA }}'},
    ),
    "fan_flow.py": (
        "FanFlow",
        {"result": {"sides": [11, 12], "louds": ["ALPHA", 'IT\'S "QUOTED" {{ NOT JINJA }}']}},
    ),
    "secrets_flow.py": ("SecretsFlow", {"summary": "db-alice:17"}),
    "hooked_flow.py": ("HookedFlow", {"value": 7}),
    # The guide's quick start (a @kubernetes step), plain and with the organization example.
    "my_flow.py": ("MyAirflowFlow", {"result": sum(range(1000000))}),
    "org/my_flow.py": ("MyAirflowFlow", {"result": sum(range(1000000))}),
    # A Config of ~300 KB (more than an environment string holds): from the code package.
    "big_config_flow.py": ("BigConfigFlow", {"count": 3400, "ok": True}),
}
FLOW_DIRS = {
    "fan_flow.py": ROOT / "tests" / "datastore_flows",
    "secrets_flow.py": ROOT / "tests" / "datastore_flows",
    "hooked_flow.py": ROOT / "tests" / "datastore_flows",
    "my_flow.py": ROOT / "examples",
    "org/my_flow.py": ROOT / "examples",
}
ORG = ROOT / "examples" / "org"
# Steps with @kubernetes, whose task metadata names the pod (read from the downward API).
KUBERNETES_STEPS = {"my_flow.py": "process", "org/my_flow.py": "process"}
# Which flows run against which datastore: S3 keeps its two, Azure and GCS run the flow with a
# branch and a foreach (every kind of pod) to stay within the test budget.
CASES = [
    ("s3", "linear_flow.py"),
    ("s3", "foreach_strings_flow.py"),
    ("azure", "fan_flow.py"),
    ("gs", "fan_flow.py"),
    ("s3", "secrets_flow.py"),
    ("azure", "hooked_flow.py"),  # exit hooks' pods: Metaflow's exit-hook script reads the run
    ("s3", "my_flow.py"),
    ("gs", "org/my_flow.py"),
    ("s3", "big_config_flow.py"),
]


def secrets_backend(cloud) -> tuple[dict, dict]:
    """@secrets' default backend, AWS Secrets Manager on the moto server, holding one secret:
    (settings at create time, the pod identity's endpoint for it)."""
    import boto3

    endpoint = cloud.settings["METAFLOW_S3_ENDPOINT_URL"]
    client = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        aws_access_key_id=cloud.identity["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=cloud.identity["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    value = json.dumps({"DB_USER": "db-alice", "DB_PASSWORD": "not-a-real-pw-123"})
    try:
        client.create_secret(Name="mfairflow/db", SecretString=value)
    except client.exceptions.ResourceExistsException:
        pass
    settings = {
        "METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE": "aws-secrets-manager",
        "METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION": "us-east-1",
    }
    return settings, {"AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint}


# The guide's "Accessing Results" code, as written there (flow name and token filled in).
GUIDE_ACCESS = """\
from metaflow import Flow, namespace
# Set namespace to production token
namespace('production:{token}')
# Access the flow
flow = Flow('{flow}')
# Get latest run
run = flow.latest_run
# Access artifacts
for step in run:
    print(f"{{step.id}}: {{step.finished_at}}")
    if hasattr(step, 'result'):
        print(f" Result: {{step.task.data.result}}")
"""
READ_BACK = """
import json
print("ARTIFACTS " + json.dumps({{
    "run": run.id,
    "steps": sorted(step.id for step in run),
    "values": {{name: repr(getattr(run["end"].task.data, name)) for name in {names!r}}},
    "ds_type": run["end"].task.metadata_dict.get("ds-type"),
    "kubernetes": {{
        key: value
        for key, value in run[{kube_step!r}].task.metadata_dict.items()
        if key.startswith("kubernetes-")
    }} if {kube_step!r} else {{}},
}}))
"""


def deploy(tmp_path: Path, cloud, flow_file: str, extra: dict = {}, *args, **kwargs):  # noqa: B006
    """Deploy a flow to the emulator as user alice; returns (Compiled, deploy env)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {**cloud.env, **extra, "USER": "alice", "METAFLOW_USER": "alice"}
    env["METAFLOW_HOME"] = str(home)
    flow = FLOW_DIRS.get(flow_file, ROOT / "tests" / "e2e_flows") / flow_file
    deployed = compile_flow(flow, tmp_path, *args, env=env, offline=False, **kwargs)
    assert deployed.proc.returncode == 0, deployed.proc.stderr
    return deployed, env


def run_all_pods(dag, tmp_path: Path, pod_env: dict) -> dict:
    """Every task's pod in dependency order (a mapped body: one pod per split); their logs."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    xcom: dict = {}
    outputs = {}
    for task in dag.topological_sort():
        if hasattr(task, "partial_kwargs"):  # a mapped foreach body: one pod per split
            splits = xcom[task.expand_input.value["arguments"].operator.task_id]
            for index, split in enumerate(splits):
                pod = KubernetesPodOperator(
                    task_id=task.task_id, **task.partial_kwargs, arguments=split
                )
                _, proc = run_pod(pod, dag, tmp_path, pod_env, xcom, map_index=index)
                outputs[f"{task.task_id}[{index}]"] = proc.stdout + proc.stderr
            continue
        value, proc = run_pod(task, dag, tmp_path, pod_env, xcom)
        outputs[task.task_id] = proc.stdout + proc.stderr
        if value is not None:
            xcom[task.task_id] = value
    return outputs


@pytest.mark.parametrize(("cloud", "flow_file"), CASES, indirect=["cloud"])
def test_pods_fetch_the_code_package_and_run_their_steps(tmp_path, cloud, flow_file, monkeypatch):
    flow_name, expected = FLOWS[flow_file]
    settings, identity = secrets_backend(cloud) if flow_file == "secrets_flow.py" else ({}, {})
    org = ("--config", str(ORG / "mfairflow.yaml")) if flow_file.startswith("org/") else ()
    deployed, env = deploy(tmp_path, cloud, flow_file, settings, *org)
    for name, value in settings.items():  # the backend's settings reach the pods
        assert f'"{name}": "{value}"' in deployed.source, name
    token = re.search(r'^PRODUCTION_TOKEN = "(.*)"$', deployed.source, re.M).group(1)
    monkeypatch.syspath_prepend(str(ORG))  # the org DAG imports its failure callback
    dag = load_dag(deployed.dag_path)
    # The "image": a stock Python, nothing installed (see stock_image), and a shell's PATH.
    # The pod's cloud identity (on a cluster: workload identity) is the emulator's; its local
    # metadata is one shared folder, as a metadata service would be.
    metadata = tmp_path / "metadata"
    pod_env = {
        "PATH": os.pathsep.join((str(stock_image(tmp_path)), "/usr/local/bin", "/usr/bin", "/bin")),
        "HOME": str(tmp_path / "home"),
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(metadata),
        **cloud.identity,
        **identity,
    }
    outputs = run_all_pods(dag, tmp_path, pod_env)
    pods = [name for name in outputs if not name.endswith("_splits")]
    assert len(pods) >= len(dag.task_ids) - 1
    for name in pods:
        assert "Code package downloaded." in outputs[name], f"{name}: {outputs[name][-2000:]}"

    # The guide's "Accessing Results" code, against the emulator: the client finds the run in
    # the production namespace and reads its artifacts from the datastore.
    kube_step = KUBERNETES_STEPS.get(flow_file)
    code = GUIDE_ACCESS.format(token=token, flow=flow_name) + READ_BACK.format(
        names=sorted(expected), kube_step=kube_step
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env, **identity, "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(metadata)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("ARTIFACTS ")][-1]
    found = json.loads(line[len("ARTIFACTS ") :])
    run_id = "airflow-" + hashlib.md5(f"{flow_name}-{RUN_ID}".encode()).hexdigest()[:12]
    assert found["run"] == run_id
    assert found["ds_type"] == cloud.kind
    assert found["values"] == {name: repr(value) for name, value in expected.items()}
    assert "end: " in proc.stdout and "start: " in proc.stdout
    if kube_step:  # Metaflow's @kubernetes read the pod's fields (the downward API)
        pod = found["kubernetes"]
        assert pod["kubernetes-pod-name"] and pod["kubernetes-pod-id"], pod
        assert pod["kubernetes-node-ip"] == "127.0.0.1", pod
        namespace, account = ("ml-pipelines", "ml-runner") if org else ("default", "default")
        assert pod["kubernetes-pod-namespace"] == namespace, pod
        assert pod["kubernetes-pod-service-account-name"] == account, pod
    if flow_file == "hooked_flow.py":  # (a replay runs every pod: the error hook's too)
        hook = outputs["exit_hook_on_success_report"]
        assert f"HOOK success {flow_name}/{run_id} True 7" in hook, hook[-3000:]
        assert f"HOOK error {flow_name}/{run_id}" in outputs["exit_hook_on_error_alarm"]
