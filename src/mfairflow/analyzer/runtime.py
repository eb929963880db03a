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
    MAPPED_TASK_ID,
    RETRY_COUNT,
    RUN_ID,
    TRIGGER_ENV,
    TRIGGER_EVENTS,
    UNMAPPED_TASK_ID,
    init_params_command,
    metaflow_prefix,
    step_options,
)
from .context import FlowContext
from .deployment import Deployment
from .kubernetes_env import kube_connection, kubernetes_env
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
    org_env = config_env(ctx) + org_env
    if triggered:
        org_env += ((TRIGGER_ENV, TRIGGER_EVENTS),)
    datastore = ctx.flow_datastore.TYPE
    root = ctx.flow_datastore.datastore_root
    shared = dict(
        metaflow=metaflow_prefix(ctx, options.target, root, None),
        step_options=step_options(options.tags, options.namespace),
        run_id=RUN_ID,
        retry_count=RETRY_COUNT,
        task_id=UNMAPPED_TASK_ID,
        mapped_task_id=MAPPED_TASK_ID,
        init_params=init_params_command(options.tags),
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
    )


def split_env(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple, tuple]:
    """(values Airflow renders unchanged, values it renders per task), in the given order.

    Only the first can be built once and shared by every task: Airflow renders a templated
    field's objects in place.
    """
    static = tuple((k, v) for k, v in pairs if not needs_airflow_escape(v, whole_field=False))
    templated = tuple((k, v) for k, v in pairs if needs_airflow_escape(v, whole_field=False))
    return static, templated


def config_env(ctx: FlowContext) -> tuple[tuple[str, str], ...]:
    """The flow's Config values, resolved now, for every task (visible in the DAG's diff).

    Whatever gave the value (``--config``, ``--config-value``, a ``default=`` file, a
    ``default_value=`` dict, JSON text or function, ``parser=``), each task reads it back from
    METAFLOW_FLOW_CONFIG_VALUE as Metaflow reads ``--config-value``: through the config's parser
    if it has one, as text if it is ``plain``, else as JSON. A value that does not read back as
    itself that way is an error here rather than a different config in the tasks.
    """
    import json

    try:
        from metaflow.flowspec import FlowStateItems
    except ImportError:  # pragma: no cover - older Metaflow without Configs
        return ()
    configs = ctx.flow._flow_state[FlowStateItems.CONFIGS] or {}
    values = {name: value for name, (value, _) in configs.items() if value is not None}
    if not values:
        return ()
    parsers = {
        param.name: param.parser
        for _, param in ctx.flow._get_parameters()
        if getattr(param, "IS_CONFIG_PARAMETER", False)
    }
    for name, value in values.items():
        _check_config_reads_back(ctx, name, value, configs[name][1], parsers.get(name))
    text = json.dumps(values, separators=(",", ":"))  # the config's own key order
    return (("METAFLOW_FLOW_CONFIG_VALUE", airflow_literal(text)),)


def _check_config_reads_back(ctx: FlowContext, name: str, value, plain: bool, parser) -> None:
    """Reject a Config value that a task would not read back as the same value."""
    import json

    from ..errors import CompileError

    where = {"location": ctx.flow_location()}
    try:
        text = value if isinstance(value, str) else json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise CompileError(
            f"config {name!r} has a value that is not JSON ({exc}), so it cannot reach the tasks",
            hint="make the config (or its parser's result) JSON data: dicts, lists, strings, "
            "numbers, booleans",
            **where,
        ) from None
    if "\0" in text:
        raise CompileError(
            f"config {name!r} contains a NUL character, which no process environment can hold",
            hint="remove the NUL character from the config",
            **where,
        )
    try:
        if parser:
            from metaflow.user_configs.config_options import ConfigInput

            read_back = ConfigInput._call_parser(parser, text, plain)
        else:
            read_back = text if plain else json.loads(text)
    except Exception as exc:  # the user's parser, on the JSON text the tasks will get
        read_back = exc
    if read_back != value:
        raise CompileError(
            f"config {name!r} would not reach the tasks as it is: they read it back from its "
            "JSON text"
            + (" through its parser" if parser else "")
            + f", which gives {read_back!r} instead",
            hint=(
                "let the parser also read JSON (e.g. try json.loads first)"
                if parser
                else "make a plain config a string"
            ),
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
