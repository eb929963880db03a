"""The runtime constants of a DAG: what every task shares, filled in by the deployment."""

from __future__ import annotations

import os
from typing import Optional

from ..escaping import airflow_literal, needs_airflow_escape, shell_word
from ..model import DagSpec, PodSpec, RuntimeSpec
from ..options import CreateOptions
from ..org_config import OrgConfig
from .commands import (
    AIRFLOW_RUN_ID,
    OWN_MAPPED_TASK_ID,
    OWN_TASK_ID,
    RESUME_KEY,
    RESUME_OPTIONS,
    RETRY_COUNT,
    RUN_ID,
    RUN_TASK_PREFIX,
    TASK_PREFIX,
    TRIGGER_ENV,
    TRIGGER_EVENTS,
    init_params_command,
    metaflow_prefix,
    step_options,
)
from .context import FlowContext
from .deployment import Deployment
from .kubernetes_env import POD_FIELDS, kube_connection, kubernetes_env
from .pods import escaped_pairs, pod_defaults, system_pod_metadata


def with_deployment(
    spec: DagSpec,
    ctx: FlowContext,
    options: CreateOptions,
    deployment: Deployment,
    org: Optional[OrgConfig] = None,
) -> DagSpec:
    """The analyzed DAG with the deploy's token and code package filled in.

    Only the runtime (constants shared by every task) depends on the deployment, so the flow
    is analyzed and validated once, before anything is written to the datastore.
    """
    import dataclasses

    labels, annotations = system_metadata(ctx, deployment.production_token)
    pods = [task.pod for task in spec.tasks if task.pod is not None]
    runtime = build_runtime(
        ctx,
        options,
        deployment,
        labels,
        annotations,
        org or OrgConfig(),
        pods,
        triggered=bool(spec.triggers),
    )
    return dataclasses.replace(spec, runtime=runtime)


def system_metadata(ctx: FlowContext, token: str) -> tuple[dict, dict]:
    """The labels and annotations Metaflow's own pods carry (user, flow, token, project)."""
    from metaflow import current

    project = None
    if current.get("project_name"):
        project = (current.project_name, current.branch_name, current.project_flow_name)
    return system_pod_metadata(ctx.username, ctx.flow_name, token, project)


def build_runtime(
    ctx: FlowContext,
    options: CreateOptions,
    deployment: Deployment,
    pod_labels: dict,
    pod_annotations: dict,
    org: OrgConfig,
    pods: list[PodSpec],
    triggered: bool = False,
) -> RuntimeSpec:
    """The constants every task of the DAG shares, for the target and the deployment.

    ``triggered``: the DAG starts on Assets, and every task tells Metaflow which events
    started it (current.trigger)."""
    org_env = tuple((key, airflow_literal(value)) for key, value in org.env)
    org_env = config_refs(ctx) + org_env
    if triggered:
        org_env += ((TRIGGER_ENV, TRIGGER_EVENTS),)
    datastore = ctx.flow_datastore.TYPE
    root = ctx.flow_datastore.datastore_root
    shared = dict(
        metaflow=metaflow_prefix(
            ctx,
            root,
            LOCAL_CONFIG_FILE if options.target == "local" and flow_configs(ctx) else None,
        ),
        step_options=step_options(options.tags, options.namespace),
        run_id=RUN_ID,
        retry_count=RETRY_COUNT,
        first_task_prefix=TASK_PREFIX,
        task_prefix=RUN_TASK_PREFIX,
        task_id=OWN_TASK_ID,
        mapped_task_id=OWN_MAPPED_TASK_ID,
        init_params=init_params_command(options.tags),
        resume_key=RESUME_KEY,
        resume_options=RESUME_OPTIONS,
        flow_word=shell_word(ctx.flow_name),
        production_token=deployment.production_token,
        datastore=datastore,
        datastore_root=root,
        metadata=ctx.metadata.TYPE,
    )
    if options.target == "local":
        flow_dir = os.path.dirname(os.path.abspath(ctx.flow_file))
        env = (
            ("METAFLOW_USER", airflow_literal(ctx.username)),
            ("METAFLOW_PRODUCTION_TOKEN", airflow_literal(deployment.production_token)),
            ("METAFLOW_AIRFLOW_DAG_RUN_ID", AIRFLOW_RUN_ID),
        )
        common_env, templated_env = split_env(env + org_env)
        return RuntimeSpec(
            **shared,
            common_env=common_env,
            templated_env=templated_env,
            bootstrap=(),
            flow_dir=flow_dir,
            flow_configs=config_file_text(ctx),
            code_package_url=None,
            code_package_sha=None,
            kube=None,
            log_capture=(),
            pod_labels=(),
            pod_annotations=(),
        )
    common_env, templated_env = split_env(kubernetes_env(ctx, deployment) + org_env)
    return RuntimeSpec(
        **shared,
        common_env=common_env,
        templated_env=templated_env,
        bootstrap=bootstrap_commands(ctx, deployment),
        flow_dir=None,
        code_package_url=deployment.code_package_url,
        code_package_sha=deployment.code_package_sha,
        kube=kube_connection(),
        log_capture=log_capture(options.target),
        pod_labels=escaped_pairs(pod_labels),
        pod_annotations=escaped_pairs(pod_annotations),
        pod_defaults=pod_defaults(pods),
        pod_fields=POD_FIELDS,
    )


def split_env(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple, tuple]:
    """(values Airflow renders unchanged, values it renders per task), in the given order.

    Only the first can be built once and shared by every task: Airflow renders a templated
    field's objects in place.
    """
    static = tuple((k, v) for k, v in pairs if not needs_airflow_escape(v, whole_field=False))
    templated = tuple((k, v) for k, v in pairs if needs_airflow_escape(v, whole_field=False))
    return static, templated


# The file a local task's Metaflow commands read the flow's resolved Configs from: run_step
# writes FLOW_CONFIGS there, in the task's temporary folder (MFAIRFLOW_TMP).
LOCAL_CONFIG_FILE = '"$MFAIRFLOW_TMP/configs.json"'


def flow_configs(ctx: FlowContext) -> dict:
    """The flow's Configs as resolved now: name → (value, plain), as Metaflow stores them."""
    try:
        from metaflow.flowspec import FlowStateItems
    except ImportError:  # pragma: no cover - older Metaflow without Configs
        return {}
    return dict(ctx.flow._flow_state[FlowStateItems.CONFIGS] or {})


def config_refs(ctx: FlowContext) -> tuple[tuple[str, str], ...]:
    """METAFLOW_FLOW_CONFIG_VALUE for every task: each Config named ``kv.<name>``.

    Whatever gave the value (``--config``, ``--config-value``, a ``default=`` file, a
    ``default_value=`` dict, JSON text or function, ``parser=``), the tasks take the value
    already parsed, as Metaflow's Argo Workflows and Step Functions tasks do: ``kv.<name>``
    makes Metaflow read the value from its config file instead of parsing text again. On the
    kubernetes target that file is the CONFIG file Metaflow puts in the code package (as on
    Argo); with ``--target local`` it is the file given with ``--local-config-file``, which
    each task writes from the DAG's FLOW_CONFIGS (``config_file_text``). Neither goes through
    a process environment or a command line, which hold at most 128 KiB per string.
    """
    import json

    configs = flow_configs(ctx)
    if not configs:
        return ()
    for name, (value, _) in configs.items():
        _check_config_is_json(ctx, name, value)
    refs = {name: f"kv.{name}" for name in configs}
    text = json.dumps(refs, separators=(",", ":"))
    return (("METAFLOW_FLOW_CONFIG_VALUE", airflow_literal(text)),)


def config_file_text(ctx: FlowContext) -> Optional[str]:
    """The config file of a local task (JSON), as Metaflow's own runtime writes it for
    ``--local-config-file``: ``{"user_configs": {name: [value, plain]}}``; None without
    Configs."""
    import json

    configs = flow_configs(ctx)
    if not configs:
        return None
    dump = {"user_configs": {name: [value, plain] for name, (value, plain) in configs.items()}}
    return json.dumps(dump, separators=(",", ":"))


def _check_config_is_json(ctx: FlowContext, name: str, value) -> None:
    """Reject a Config value that cannot travel as JSON (Metaflow's own config file format)."""
    import json

    from ..errors import CompileError

    where = {"location": ctx.flow_location()}
    try:
        read_back = json.loads(json.dumps(value, allow_nan=False))
        problem = f"it reads back as {read_back!r}"
    except (TypeError, ValueError) as exc:
        read_back, problem = exc, str(exc)
    if read_back != value:
        raise CompileError(
            f"config {name!r} has a value that is not JSON data ({problem}), so it cannot "
            "reach the tasks",
            hint="make the config (or its parser's result) JSON data: dicts with string keys, "
            "lists, strings, finite numbers, booleans, None",
            **where,
        )


def bootstrap_commands(ctx: FlowContext, deployment: Deployment) -> tuple[str, ...]:
    """Shell commands that fetch and unpack the code package, as Metaflow's pods run them.

    Metaflow writes these commands to sit inside ``bash -c "..."`` (escaped for double quotes)
    and unescapes them with shlex; here each becomes a plain command of its own, unescaped the
    same way.
    """
    import shlex

    if not deployment.code_package_url:
        return ()
    datastore = ctx.flow_datastore.TYPE
    commands = ctx.environment.get_package_commands(deployment.code_package_url, datastore)
    commands += ctx.environment.bootstrap_commands(ctx.graph.start_step, datastore)
    return tuple(
        ["mkdir -p /tmp/mflog"]
        + [airflow_literal(shlex.split(f'"{cmd}"')[0], whole_field=False) for cmd in commands]
    )


def log_capture(target: str) -> tuple[str, ...]:
    """Metaflow's log capture around a pod's step commands: (before, after, finally).

    The step's stdout and stderr also go to the datastore through ``mflog.tee`` and are saved
    whatever the outcome, so that ``python flow.py logs`` and the client's ``task.stdout`` work.
    """
    if target != "kubernetes":
        return ()
    from metaflow.mflog import BASH_SAVE_LOGS, bash_capture_logs

    before, after = bash_capture_logs("\0").split("\0")
    return (before, after, f"c=$?; {BASH_SAVE_LOGS}; exit $c")
