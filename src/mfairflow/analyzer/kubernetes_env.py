"""The pod environment and the Kubernetes connection of the kubernetes target."""

from __future__ import annotations

from ..escaping import airflow_literal, for_field
from ..model import KubeConnection
from .commands import AIRFLOW_RUN_ID, is_dag_template
from .context import FlowContext
from .deployment import Deployment


def kubernetes_env(ctx: FlowContext, deployment: Deployment) -> tuple[tuple[str, str], ...]:
    """The environment every pod of the DAG shares (Metaflow settings for datastore, metadata)."""
    from metaflow import metaflow_config as cfg

    env = {
        "METAFLOW_CODE_URL": deployment.code_package_url,
        "METAFLOW_CODE_SHA": deployment.code_package_sha,
        "METAFLOW_CODE_DS": ctx.flow_datastore.TYPE,
        "METAFLOW_USER": ctx.username,
        "METAFLOW_PRODUCTION_TOKEN": deployment.production_token,
        "METAFLOW_DEFAULT_DATASTORE": ctx.flow_datastore.TYPE,
        "METAFLOW_DEFAULT_METADATA": ctx.metadata.TYPE,
        "METAFLOW_DATASTORE_SYSROOT_S3": cfg.DATASTORE_SYSROOT_S3,
        "METAFLOW_DATASTORE_SYSROOT_AZURE": cfg.DATASTORE_SYSROOT_AZURE,
        "METAFLOW_DATASTORE_SYSROOT_GS": cfg.DATASTORE_SYSROOT_GS,
        "METAFLOW_DATATOOLS_S3ROOT": cfg.DATATOOLS_S3ROOT,
        "METAFLOW_S3_ENDPOINT_URL": cfg.S3_ENDPOINT_URL,
        "METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT": cfg.AZURE_STORAGE_BLOB_SERVICE_ENDPOINT,
        "METAFLOW_CARD_S3ROOT": cfg.CARD_S3ROOT,
        "METAFLOW_CARD_AZUREROOT": cfg.CARD_AZUREROOT,
        "METAFLOW_CARD_GSROOT": cfg.CARD_GSROOT,
        "METAFLOW_SERVICE_URL": cfg.SERVICE_INTERNAL_URL,
        "METAFLOW_KUBERNETES_WORKLOAD": "1",
        "METAFLOW_RUNTIME_ENVIRONMENT": "kubernetes",
        "METAFLOW_AIRFLOW_DAG_RUN_ID": AIRFLOW_RUN_ID,
        "PYTHONUNBUFFERED": "x",
        "MF_DATASTORE": ctx.flow_datastore.TYPE,
        "MFLOG_STDOUT": "/tmp/mflog/stdout",
        "MFLOG_STDERR": "/tmp/mflog/stderr",
    }
    return tuple(
        (key, value if is_dag_template(value) else airflow_literal(str(value)))
        for key, value in env.items()
        if value is not None
    )


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
