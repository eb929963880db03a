"""The environment every pod gets: Metaflow's settings as given at create time, the Pod fields
Metaflow's @kubernetes reads (downward API), and the note about metadata that stays in pods."""

from __future__ import annotations

import json
import re

from conftest import FLOWS
from dag_inspect import load_dag, pod_manifest, write_kubeconfig

FLOW = FLOWS / "my_flow.py"


def test_pod_fields_are_the_ones_metaflows_own_pods_get():
    """The table equals what Metaflow's pod builder takes from the downward API, so that a
    Metaflow upgrade that reads one more Pod field is caught here."""
    import kubernetes.client
    from metaflow.plugins.kubernetes.kubernetes_job import KubernetesJob

    from mfairflow.analyzer.kubernetes_env import POD_FIELDS

    class Arguments(dict):
        def __missing__(self, key):  # every option Metaflow reads and this test does not set
            return None

    class Client:
        def get(self):
            return kubernetes.client

    job = KubernetesJob(Client())
    job._kwargs = Arguments(
        environment_variables={},
        labels={},
        annotations={},
        cpu="1",
        memory="1024",
        disk="1024",
        namespace="default",
        command=["true"],
        image="python:3.11",
        step_name="start",
        timeout_in_seconds=60,
        retries=0,
        tolerations=[],
        node_selector={},
        secrets=[],
        use_tmpfs=False,
        gpu_vendor="nvidia",
        image_pull_secrets=[],
        qos="Burstable",
    )
    (container,) = job.create_job_spec().template.spec.containers
    metaflows = {
        var.name: var.value_from.field_ref.field_path for var in container.env if var.value_from
    }
    assert dict(POD_FIELDS) == metaflows


def test_every_pod_takes_the_pod_fields_from_kubernetes(compile_in, tmp_path):
    compiled = compile_in(FLOW)
    assert compiled.proc.returncode == 0, compiled.proc.stderr
    dag = load_dag(compiled.dag_path)
    task = dag.get_task("process")  # a @kubernetes step
    manifest = pod_manifest(task, write_kubeconfig(tmp_path))
    (container,) = manifest["spec"]["containers"]
    fields = {
        item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"]
        for item in container["env"]
        if "valueFrom" in item
    }
    assert fields["METAFLOW_KUBERNETES_POD_NAME"] == "metadata.name"
    assert fields["METAFLOW_KUBERNETES_NODE_IP"] == "status.hostIP"
    assert len(fields) == 6


def _common_env(source: str) -> str:
    return re.search(r"^COMMON_ENV = \{.*?^\}", source, re.M | re.S).group(0)


def test_a_setting_given_at_create_time_reaches_the_pods_even_at_its_default(compile_in):
    """The image's own Metaflow config may say otherwise: a setting the user gave is kept."""
    given = compile_in(FLOW, env={"METAFLOW_DEFAULT_AWS_CLIENT_PROVIDER": "boto3"})
    assert given.proc.returncode == 0, given.proc.stderr
    assert '"METAFLOW_DEFAULT_AWS_CLIENT_PROVIDER": "boto3"' in _common_env(given.source)
    left = compile_in(FLOW)
    assert "METAFLOW_DEFAULT_AWS_CLIENT_PROVIDER" not in _common_env(left.source)


def test_the_metadata_services_key_never_enters_the_dag(compile_in):
    """Metaflow's pod builder passes the service's headers (its key among them) to the pod."""
    secret = "not-a-real-service-key-4711"
    compiled = compile_in(
        FLOW,
        env={
            "METAFLOW_DEFAULT_METADATA": "service",
            "METAFLOW_SERVICE_URL": "http://127.0.0.1:9/api",
            "METAFLOW_SERVICE_AUTH_KEY": secret,
            "METAFLOW_SERVICE_HEADERS": json.dumps({"x-api-key": secret}),
        },
    )
    assert compiled.proc.returncode == 0, compiled.proc.stderr
    assert secret not in compiled.source
    assert '"METAFLOW_SERVICE_URL": "http://127.0.0.1:9/api"' in compiled.source


def test_a_kubernetes_deploy_with_local_metadata_says_what_to_set(compile_in):
    local = compile_in(FLOW)
    assert local.proc.returncode == 0, local.proc.stderr
    said = local.proc.stdout + local.proc.stderr
    assert "will not find these runs" in said
    assert "METAFLOW_DEFAULT_METADATA=service" in said and "METAFLOW_SERVICE_URL" in said
    service = compile_in(
        FLOW,
        env={
            "METAFLOW_DEFAULT_METADATA": "service",
            "METAFLOW_SERVICE_URL": "http://127.0.0.1:9/api",
        },
    )
    assert service.proc.returncode == 0, service.proc.stderr
    assert "will not find these runs" not in service.proc.stdout + service.proc.stderr
    local_target = compile_in(FLOW, "--target", "local")
    assert "will not find these runs" not in local_target.proc.stdout + local_target.proc.stderr
