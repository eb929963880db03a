"""The pod environment and the Kubernetes connection of the kubernetes target."""

from __future__ import annotations

import os
import re

from ..escaping import airflow_literal, for_field
from ..model import KubeConnection
from .commands import AIRFLOW_RUN_ID, is_dag_template
from .context import FlowContext
from .deployment import Deployment

# The settings of Metaflow's configuration that a pod needs as they were at create time: the
# datastores, the secrets backends, the cloud client providers, the data tools' and cards' roots.
# Metaflow's own @kubernetes pods get most of them (see metaflow_pod_env); a setting of these
# families that is set at create time reaches the pod even where Metaflow forgets it (the Azure
# client provider, the Azure and GCS data tools roots, ...). Machine-local roots stay here, and so
# do the data tools' client parameters and session variables, which may hold credentials.
POD_SETTING = re.compile(
    r"METAFLOW_(?:"
    r"DATASTORE_SYSROOT_(?!LOCAL$|SPIN$)\w+"
    r"|DATATOOLS_(?!LOCALROOT$|CLIENT_PARAMS$|SESSION_VARS$)\w+"
    r"|CARD_(?!LOCALROOT$)\w+ROOT"
    r"|(?:S3|AZURE_STORAGE|GS_STORAGE)_\w+"
    r"|(?:DEFAULT|ENABLED)_\w+_CLIENT_PROVIDER"
    r"|DEFAULT_SECRETS_\w+|ENABLED_SECRETS_PROVIDER"
    r"|\w*SECRETS?_MANAGER_\w+|\w*KEY_VAULT_\w+"
    r")"
)

# What Metaflow's @kubernetes reads of the pod itself in a pod (its task metadata: pod name,
# namespace, uid, service account, node IP), which Metaflow's pod builder takes from the Pod
# object through Kubernetes' downward API (kubernetes_job.py; tests/test_kubernetes_env.py checks
# this table against the installed Metaflow). Without them every @kubernetes step fails with
# KeyError: 'METAFLOW_KUBERNETES_POD_NAME'.
POD_FIELDS = (
    ("METAFLOW_KUBERNETES_NAMESPACE", "metadata.namespace"),
    ("METAFLOW_KUBERNETES_POD_NAMESPACE", "metadata.namespace"),
    ("METAFLOW_KUBERNETES_POD_NAME", "metadata.name"),
    ("METAFLOW_KUBERNETES_POD_ID", "metadata.uid"),
    ("METAFLOW_KUBERNETES_SERVICE_ACCOUNT_NAME", "spec.serviceAccountName"),
    ("METAFLOW_KUBERNETES_NODE_IP", "status.hostIP"),
)

# Settings of Metaflow's pod builder that may hold a credential (the metadata service's key
# travels in its headers): never written into a DAG file; pods take them from a Kubernetes secret.
CREDENTIAL_SETTINGS = frozenset({"METAFLOW_SERVICE_HEADERS", "METAFLOW_SERVICE_AUTH_KEY"})

# Stands in for a task's own values (run id, code package, user) when Metaflow's pod builder runs;
# the DAG sets those itself, so whatever carries the placeholder is dropped.
_PLACEHOLDER = "mfairflow-placeholder"


def kubernetes_env(ctx: FlowContext, deployment: Deployment) -> tuple[tuple[str, str], ...]:
    """The environment every pod of the DAG shares: Metaflow's own pod settings, this deploy's.

    Derived, not listed: the settings come from what Metaflow's @kubernetes gives its pods
    (``metaflow_pod_env``) plus every setting of the families in ``POD_SETTING`` set at create
    time, so that a setting Metaflow adds later reaches the pods too.
    """
    from metaflow.metaflow_config_funcs import _all_configs

    settings = metaflow_pod_env(ctx)
    set_here = settings_set_here()
    for key, config in list(_all_configs.items()):
        if config.value is None or not POD_SETTING.fullmatch(key):
            continue
        value = config.serializer(config.value)
        # A setting given here reaches the pods whatever its value (the image's own Metaflow
        # config may say otherwise); one left at its default the pod computes alike.
        if value != "" and (key in set_here or not config.is_default):  # "": as good as unset
            settings.setdefault(key, value)
    own = {
        "METAFLOW_CODE_URL": deployment.code_package_url,
        "METAFLOW_CODE_SHA": deployment.code_package_sha,
        "METAFLOW_CODE_DS": ctx.flow_datastore.TYPE,
        "METAFLOW_USER": ctx.username,
        "METAFLOW_PRODUCTION_TOKEN": deployment.production_token,
        "METAFLOW_DEFAULT_DATASTORE": ctx.flow_datastore.TYPE,
        "METAFLOW_DEFAULT_METADATA": ctx.metadata.TYPE,
        "METAFLOW_KUBERNETES_WORKLOAD": "1",
        "METAFLOW_RUNTIME_ENVIRONMENT": "kubernetes",
        "METAFLOW_AIRFLOW_DAG_RUN_ID": AIRFLOW_RUN_ID,
        "PYTHONUNBUFFERED": "x",
        "MF_DATASTORE": ctx.flow_datastore.TYPE,
        "MFLOG_STDOUT": "/tmp/mflog/stdout",
        "MFLOG_STDERR": "/tmp/mflog/stderr",
    }
    env = {key: value for key, value in own.items() if value is not None}
    for key in sorted(settings):
        env.setdefault(key, settings[key])
    return tuple(
        (key, value if is_dag_template(value) else airflow_literal(str(value)))
        for key, value in env.items()
    )


def metaflow_pod_env(ctx: FlowContext) -> dict[str, str]:
    """The Metaflow settings that Metaflow's own @kubernetes puts in a pod's environment.

    Metaflow's pod builder (``Kubernetes.create_job_object``) runs here with placeholders for
    the task's own values and a client that builds the job without a cluster; the settings are
    read back from the job. Dropped: the placeholders (the DAG sets those itself), empty values
    and settings left at their default, which the pod computes alike (and which the image's
    config or a Kubernetes secret may then set); a setting given here is kept even when it
    equals the default.
    """
    from metaflow.metaflow_config_funcs import _all_configs
    from metaflow.plugins.kubernetes import kubernetes as mf_kubernetes
    from metaflow.plugins.kubernetes.kubernetes_job import KubernetesJob

    class JobBuilder:
        """Metaflow's KubernetesClient as far as building a job goes: no cluster."""

        def job(self, **kwargs):
            return KubernetesJob(self, **kwargs)

    storage = ctx.flow_datastore._storage_impl
    builder = mf_kubernetes.Kubernetes(ctx.flow_datastore, ctx.metadata, ctx.environment)
    client = mf_kubernetes.KubernetesClient
    mf_kubernetes.KubernetesClient = JobBuilder
    try:
        job = builder.create_job_object(
            flow_name=ctx.flow_name,
            run_id=_PLACEHOLDER,
            step_name="start",
            task_id=_PLACEHOLDER,
            attempt="0",
            user=_PLACEHOLDER,
            code_package_metadata=None,
            code_package_sha=_PLACEHOLDER,
            code_package_url=storage.full_uri(storage.path_join(_PLACEHOLDER, _PLACEHOLDER)),
            code_package_ds=ctx.flow_datastore.TYPE,
            step_cli="true",
            docker_image=_PLACEHOLDER,
            docker_image_pull_policy=None,
            labels={},
            annotations={},
            env={},
        )
    finally:
        mf_kubernetes.KubernetesClient = client
    env = {}
    set_here = settings_set_here()
    for key, value in job._kwargs.get("environment_variables", {}).items():
        if str(value) == "" or _PLACEHOLDER in str(value):  # empty: as good as unset
            continue
        if key in ("METAFLOW_RUN_ID", "METAFLOW_CODE_METADATA") or key in CREDENTIAL_SETTINGS:
            continue
        config = _all_configs.get(key)
        if (
            config is not None
            and config.is_default
            and key not in set_here
            and config.serializer(config.value) == str(value)
        ):
            continue
        env[key] = str(value)
    return env


def settings_set_here() -> set[str]:
    """The Metaflow settings given where `create` runs, whatever their value: in the
    environment, the Metaflow profile or the flow's local config (Metaflow itself calls a
    setting equal to its default "default", so that it cannot tell them apart)."""
    from metaflow import metaflow_config_funcs as funcs

    names = {key for key in os.environ if key.startswith("METAFLOW_")}
    for config in (funcs.METAFLOW_CONFIG, funcs.METAFLOW_LOCAL_CONFIG):
        names.update(key for key in (config or {}) if str(key).startswith("METAFLOW_"))
    return names


def kube_connection() -> KubeConnection:
    """How pods reach Kubernetes: in-cluster, or the connection/kubeconfig of Metaflow's config."""
    from metaflow import metaflow_config as cfg

    conn_id = cfg.AIRFLOW_KUBERNETES_CONN_ID
    if conn_id in ("", "None", "none"):
        conn_id = None
    context = cfg.AIRFLOW_KUBERNETES_KUBECONFIG_CONTEXT or None
    config_file = cfg.AIRFLOW_KUBERNETES_KUBECONFIG_FILE or None

    def argument(field: str, value):  # the pod operator renders these: escape them
        return None if value is None else for_field("KubernetesPodOperator", field, str(value))

    return KubeConnection(
        in_cluster=not (conn_id or context or config_file),
        conn_id=argument("kubernetes_conn_id", conn_id),
        cluster_context=argument("cluster_context", context),
        config_file=argument("config_file", config_file),
        startup_timeout_seconds=int(cfg.AIRFLOW_KUBERNETES_STARTUP_TIMEOUT_SECONDS),
    )
