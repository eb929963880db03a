"""Operator arguments that Airflow renders with Jinja (generated: do not edit).

Written by scripts/template_fields.py from the template_fields of the operators of Airflow
2.10.5, 3.3.2; tests/test_airflow_fields.py checks it against the installed ones.
"""

# Operator class name -> the arguments it renders (its template_fields).
TEMPLATE_FIELDS = {
    "BranchPythonOperator": ("op_args", "op_kwargs", "templates_dict"),
    "ExternalTaskSensor": (
        "external_dag_id",
        "external_task_group_id",
        "external_task_id",
        "external_task_ids",
    ),
    "KubernetesPodOperator": (
        "annotations",
        "arguments",
        "base_container_name",
        "cluster_context",
        "cmds",
        "config_file",
        "configmaps",
        "container_resources",
        "env_from",
        "env_vars",
        "hostname",
        "image",
        "kubernetes_conn_id",
        "labels",
        "name",
        "namespace",
        "node_selector",
        "pod_template_dict",
        "pod_template_file",
        "trigger_kwargs",
        "volume_mounts",
        "volumes",
    ),
    "PythonOperator": ("op_args", "op_kwargs", "templates_dict"),
    "S3KeySensor": (
        "aws_conn_id",
        "bucket_key",
        "bucket_name",
        "region_name",
        "verify",
    ),
}

# Kubernetes object class -> the fields the pod operator renders inside a templated argument.
NESTED_TEMPLATE_FIELDS = {
    "V1EnvVar": ("name", "value"),
    "V1ResourceRequirements": ("limits", "requests"),
    "V1Volume": ("name",),
    "V1VolumeMount": ("name", "sub_path"),
}
