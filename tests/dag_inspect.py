"""Look at a generated DAG the way Airflow does: load it, render its templates, build its pods.

Shared by test_pod_specs.py and test_hostile.py. Everything runs in this process with the
installed Airflow 3 and cncf-kubernetes provider; nothing contacts a cluster or a database.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Optional

# Airflow reads AIRFLOW_HOME when it is first imported; keep it out of the user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(Path(tempfile.gettempdir()) / "mfairflow-tests-home"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

# The Airflow run every rendering pretends to be in.
RUN_ID = "scheduled__2024-01-01T00:00:00+00:00"
# What a foreach step hands to its mapped body: one argument list per split.
SPLITS = [["--split-index", str(i)] for i in range(3)]

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:6443
users:
- name: test
  user:
    token: dummy-token
contexts:
- name: test
  context:
    cluster: test
    user: test
current-context: test
"""


def write_kubeconfig(folder: Path) -> Path:
    """A kube config naming a cluster that is never contacted (build_pod_request_obj needs one)."""
    path = folder / "kubeconfig.yaml"
    path.write_text(KUBECONFIG)
    return path


def load_dag(dag_path: Path):
    """The one DAG of a generated file, loaded by Airflow's DagBag, with no import errors."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dag_path))
    assert not bag.import_errors, bag.import_errors
    assert len(bag.dags) == 1, list(bag.dags)
    return next(iter(bag.dags.values()))


def serialized_round_trip(dag):
    """The DAG as the scheduler and the UI see it: serialized to JSON and read back."""
    import json

    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))


class FakeTaskInstance:
    """What the generated templates use of a task instance: try number, map index, XCom."""

    def __init__(self, task_id: str, map_index: int = -1, try_number: int = 1) -> None:
        self.task_id = task_id
        self.map_index = map_index
        self.try_number = try_number

    def xcom_pull(self, task_ids=None, **_: Any):
        return SPLITS


class FakeDagRun:
    """What the generated templates use of the DAG run: its conf (a resume names its origin)."""

    def __init__(self, conf: Optional[dict] = None) -> None:
        self.conf = conf or {}


def template_context(dag, task_id: str, map_index: int = -1, conf: Optional[dict] = None) -> dict:
    """A minimal Airflow template context for one task instance of a scheduled run."""
    ti = FakeTaskInstance(task_id, map_index)
    return {
        "dag": dag,
        "dag_run": FakeDagRun(conf),
        "run_id": RUN_ID,
        "ti": ti,
        "task_instance": ti,
        "params": {name: dag.params[name] for name in dag.params},
        "ds": "2024-01-01",
        "ts": "2024-01-01T00:00:00+00:00",
    }


def render(task, dag, map_index: int = -1):
    """Render the task's templated fields in place, with the DAG's own Jinja environment."""
    task.render_template_fields(
        template_context(dag, task.task_id, map_index), jinja_env=dag.get_template_env()
    )
    return task


def render_value(dag, value: Any, task_id: str = "start") -> Any:
    """One templated value rendered as Airflow renders an operator field of ``dag``."""
    from airflow.sdk.definitions._internal.templater import Templater

    return Templater().render_template(
        value, template_context(dag, task_id), jinja_env=dag.get_template_env()
    )


def is_mapped(task) -> bool:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    return isinstance(task, MappedOperator)


def unmapped_pod_operator(task, arguments: list[str]):
    """The KubernetesPodOperator Airflow makes of one expanded instance of a mapped task."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    assert issubclass(task.operator_class, KubernetesPodOperator), task.operator_class
    assert set(task.expand_input.value) == {"arguments"}, task.expand_input
    return KubernetesPodOperator(task_id=task.task_id, **task.partial_kwargs, arguments=arguments)


def pod_operators(dag) -> dict[str, Any]:
    """Every KubernetesPodOperator of the DAG (a mapped one as its split 0), rendered."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    operators = {}
    for task in dag.tasks:
        if is_mapped(task):
            operators[task.task_id] = render(unmapped_pod_operator(task, SPLITS[0]), dag, 0)
        elif isinstance(task, KubernetesPodOperator):
            operators[task.task_id] = render(task, dag)
    return operators


def pod_manifest(operator, kubeconfig: Path) -> dict:
    """The pod the operator would create, as the JSON the Kubernetes API receives."""
    from kubernetes.client import ApiClient

    operator.config_file = str(kubeconfig)
    operator.in_cluster = False
    pod = operator.build_pod_request_obj(context=None)
    return ApiClient().sanitize_for_serialization(pod)


def base_container(manifest: dict) -> dict:
    """The container that runs the step (a foreach pod also has Airflow's XCom sidecar)."""
    (container,) = [c for c in manifest["spec"]["containers"] if c["name"] == "base"]
    return container


def env_of(manifest: dict) -> dict[str, Optional[str]]:
    """Environment variables of the step's container."""
    return {item["name"]: item.get("value") for item in base_container(manifest).get("env", [])}
