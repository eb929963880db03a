"""Metaflow flow → DagSpec: every decision and every validation, no source text."""

from __future__ import annotations

import builtins
import keyword
import os
import re
from dataclasses import dataclass
from typing import Optional

from .. import __version__
from ..errors import CompileError
from ..escaping import airflow_literal, needs_airflow_escape, python_identifier, unique_name
from ..model import (
    BranchSpec,
    DagSpec,
    KubeConnection,
    PodSpec,
    RuntimeSpec,
    SplitsSpec,
    TaskSpec,
)
from ..options import CreateOptions
from ..org_config import OrgConfig
from .commands import (
    MAPPED_TASK_ID,
    RETRY_COUNT,
    RUN_ID,
    UNMAPPED_TASK_ID,
    init_params_command,
    metaflow_prefix,
    step_options,
    step_run,
    task_env,
)
from .context import FlowContext
from .foreach import foreach_mappings
from .params import analyze_params
from .pods import analyze_pod, escaped_pairs, pod_defaults, system_pod_metadata
from .schedule import analyze_schedule
from .sensors import analyze_sensors
from .validation import (
    check_datastore,
    check_decorators,
    check_environment,
    check_graph,
    switch_merge,
)

__all__ = ["Deployment", "FlowContext", "analyze_flow", "with_deployment"]

# Names the DAG template defines or uses; a task variable must not shadow them.
TEMPLATE_NAMES = {
    "DAG",
    "Param",
    "KubernetesPodOperator",
    "PythonOperator",
    "S3KeySensor",
    "ExternalTaskSensor",
    "k8s",
    "datetime",
    "timedelta",
    "hashlib",
    "dag",
    "metaflow_run_id",
    "step_script",
    "step_commands",
    "metaflow_step",
    "run_step",
    "resources",
    "on_failure_callback",
    "airflow2_param",
    "BranchPythonOperator",
    "follow_switch",
    "flatten_splits",
    "COMMON_ENV_VARS",
    # The DAG file's constants.
    "DAG_ID",
    "FLOW_NAME",
    "FLOW_FILE",
    "FLOW_DIR",
    "PRODUCTION_TOKEN",
    "DATASTORE_ROOT",
    "CODE_PACKAGE_URL",
    "SETUP",
    "POD_LABELS",
    "POD_ANNOTATIONS",
    "POD_DEFAULTS",
    "RESOURCES",
    "SECRETS",
    "COMMON_ENV",
    "TASK_ENV",
    "METAFLOW",
    "LOG_CAPTURE",
    "RUN_ID",
    "RETRY_COUNT",
    "TASK_ID",
    "MAPPED_TASK_ID",
    "STEP_OPTIONS",
    "INIT_PARAMS",
}
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_TAG_MAX = 100


@dataclass(frozen=True)
class Deployment:
    """What the deploy step decided: the production token and the code package."""

    production_token: str
    code_package_url: Optional[str]
    code_package_sha: Optional[str]


def analyze_flow(
    ctx: FlowContext,
    options: CreateOptions,
    dag_id: str,
    deployment: Deployment,
    org: Optional[OrgConfig] = None,
) -> DagSpec:
    """Validate the flow for Airflow and decide everything the DAG file says."""
    org = org or OrgConfig()
    check_decorators(ctx)
    check_environment(ctx)
    check_graph(ctx)
    check_datastore(ctx, options.offline, options.target)
    _check_options(options)
    _check_org(org)
    graph = ctx.graph
    schedule = analyze_schedule(ctx)
    params = analyze_params(ctx)
    taken_vars = set(TEMPLATE_NAMES) | set(dir(builtins)) | set(keyword.kwlist)
    order = list(graph.sorted_nodes)
    task_vars = {step: python_identifier(step, taken_vars) for step in order}
    taken_task_ids = set(order)
    sensors = analyze_sensors(ctx, taken_task_ids, taken_vars)

    system_labels, system_annotations = _system_metadata(ctx, deployment.production_token)
    mappings = foreach_mappings(ctx)
    # A foreach nested in another one is flattened: a splits task lists all its instances'
    # splits at once, and its body is mapped over that list.
    splits_tasks = {}
    for step in order:
        mapping = mappings.get(step)
        if graph[step].type == "foreach" and mapping is not None:
            task_id = unique_name(f"{step}_splits", taken_task_ids)
            splits_tasks[step] = SplitsSpec(
                task_id=task_id,
                var=python_identifier(task_id, taken_vars),
                foreach_task_id=step,
            )

    def source_var(foreach: str) -> str:
        return splits_tasks[foreach].var if foreach in splits_tasks else task_vars[foreach]

    # A switch step is followed by a branch task that picks the chosen case; the step where the
    # cases meet runs after whichever case ran and reads that case's last task.
    branches, branch_of, merges = [], {}, {}
    for step in order:
        if graph[step].type == "split-switch":
            merge, last_of_case = switch_merge(ctx, graph[step])
            task_id = unique_name(f"{step}_choice", taken_task_ids)
            branch = BranchSpec(
                task_id=task_id,
                var=python_identifier(task_id, taken_vars),
                switch_task_id=step,
            )
            branches.append(branch)
            branch_of[step] = branch
            merges[merge] = (step, last_of_case)

    tasks = []
    for step in order:
        node = graph[step]
        user_retries, error_retries = _retries(node)
        if org.retries is not None and not any(d.name == "retry" for d in node.decorators):
            user_retries = org.retries
        mapping = mappings.get(step)
        is_mapped = mapping is not None
        _check_env_names(ctx, step)
        pod = None
        if options.target == "kubernetes":
            pod = analyze_pod(ctx, step, system_labels, system_annotations, org)
        tasks.append(
            TaskSpec(
                task_id=step,
                var=task_vars[step],
                step=step,
                kind=node.type,
                doc=markdown_text(node.doc) or None,
                upstream=tuple(sorted(node.in_funcs, key=order.index)),
                mapped_over=source_var(mapping.foreach) if is_mapped else None,
                pushes_xcom=node.type in ("foreach", "split-switch"),
                run=step_run(
                    ctx,
                    step,
                    user_code_retries=user_retries,
                    mapping=mapping,
                    mappings=mappings,
                    splits_tasks={k: v.task_id for k, v in splits_tasks.items()},
                    pushes_xcom=node.type in ("foreach", "split-switch"),
                    switch_merge=merges.get(step),
                    extra_decospecs=_deploy_time_decospecs(node),
                ),
                env=task_env(ctx, step, params=params),
                retries=user_retries + error_retries,
                retry_delay_s=_retry_delay(node),
                execution_timeout_s=_timeout(node),
                pod=pod,
                trigger_rule="none_failed_min_one_success" if step in merges else None,
            )
        )

    edges = [(sensor.var, task_vars[graph.start_step]) for sensor in sensors]
    for step in order:
        source = task_vars[step]
        if step in splits_tasks:
            edges.append((source, splits_tasks[step].var))
            source = splits_tasks[step].var
        if step in branch_of:
            edges.append((source, branch_of[step].var))
            source = branch_of[step].var
        for child in sorted(graph[step].out_funcs, key=order.index):
            edges.append((source, task_vars[child]))

    return DagSpec(
        dag_id=dag_id,
        flow_name=ctx.flow_name,
        flow_file=os.path.basename(ctx.flow_file),
        target=options.target,
        description=_first_line(graph.doc),
        doc_md=_dag_doc(graph.doc, bool(mappings)),
        owner=ctx.username,
        schedule=schedule,
        dagrun_timeout_s=options.workflow_timeout if schedule else None,
        max_active_tasks=options.max_workers,
        pool=options.worker_pool or org.pool,
        tags=tuple(dict.fromkeys(options.tags + org.tags)),
        is_paused_upon_creation=options.is_paused_upon_creation,
        params=params,
        sensors=sensors,
        tasks=tuple(tasks),
        branches=tuple(branches),
        splits=tuple(splits_tasks[step] for step in order if step in splits_tasks),
        edges=tuple(edges),
        runtime=_runtime(
            ctx,
            options,
            deployment,
            system_labels,
            system_annotations,
            org,
            [task.pod for task in tasks if task.pod is not None],
        ),
        on_failure_callback=(
            tuple(org.on_failure_callback.rsplit(".", 1)) if org.on_failure_callback else None
        ),
        generator=f"mfairflow {__version__}",
    )


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

    labels, annotations = _system_metadata(ctx, deployment.production_token)
    pods = [task.pod for task in spec.tasks if task.pod is not None]
    runtime = _runtime(ctx, options, deployment, labels, annotations, org or OrgConfig(), pods)
    return dataclasses.replace(spec, runtime=runtime)


def _check_options(options: CreateOptions) -> None:
    if options.max_workers < 1:
        raise CompileError(
            f"--max-workers {options.max_workers} must be at least 1",
            hint="pass --max-workers 1 or more (default 100)",
        )
    if options.workflow_timeout is not None and options.workflow_timeout < 1:
        raise CompileError(
            f"--workflow-timeout {options.workflow_timeout} must be a positive number of seconds",
            hint="pass --workflow-timeout 3600, for example",
        )
    for tag in options.tags:
        if not tag or len(tag) > _TAG_MAX:
            raise CompileError(
                (
                    f"--tag {tag[:40]!r}... must be 1 to {_TAG_MAX} characters long"
                    if tag
                    else "--tag cannot be empty"
                ),
                hint=f"Airflow stores DAG tags of at most {_TAG_MAX} characters; shorten it",
            )
    if options.worker_pool is not None and not options.worker_pool.strip():
        raise CompileError("--worker-pool cannot be empty", hint="name an Airflow pool")
    if options.worker_pool is not None and len(options.worker_pool) > 256:
        raise CompileError(
            "--worker-pool is longer than 256 characters",
            hint="Airflow stores pool names of at most 256 characters; use a shorter name",
        )


def _check_org(org: OrgConfig) -> None:
    for key, value in org.env:
        if "\0" in value:
            raise CompileError(
                f"env variable {key!r} in the organization config contains a NUL character, "
                "which no process environment can hold",
                hint="remove the NUL character from the value",
                location=org.where("env"),
            )
        if not _ENV_NAME.fullmatch(key):
            raise CompileError(
                f"env variable name {key!r} in the organization config is not valid",
                hint="use letters, digits, '_', '-' and '.', not starting with a digit",
                location=org.where("env"),
            )
    for tag in org.tags:
        if not tag or len(tag) > _TAG_MAX:
            raise CompileError(
                f"tag {tag[:40]!r} in the organization config must be 1 to {_TAG_MAX} "
                "characters long",
                hint="shorten it",
                location=org.where("tags"),
            )


def _check_env_names(ctx: FlowContext, step: str) -> None:
    deco = ctx.step_decorator(step, "environment")
    env = (deco.attributes.get("vars") or {}) if deco is not None else {}
    for key, value in env.items():
        if "\0" in str(value):
            raise CompileError(
                f"@environment variable {key!r} contains a NUL character, which no process "
                "environment can hold",
                hint="remove the NUL character from the value",
                step=step,
                location=ctx.step_location(step),
            )
        if not _ENV_NAME.fullmatch(str(key)):
            raise CompileError(
                f"@environment variable name {key!r} is not a valid environment variable name",
                hint="use letters, digits, '_', '-' and '.', not starting with a digit",
                step=step,
                location=ctx.step_location(step),
            )


def _retries(node) -> tuple[int, int]:
    user, error = 0, 0
    for deco in node.decorators:
        u, e = deco.step_task_retry_count()
        user, error = max(user, u), max(error, e)
    return user, error


def _retry_delay(node) -> Optional[int]:
    for deco in node.decorators:
        if deco.name == "retry":
            return int(float(deco.attributes.get("minutes_between_retries") or 0) * 60)
    return None


def _timeout(node) -> Optional[int]:
    from metaflow.plugins.timeout_decorator import get_run_time_limit_for_task

    if not any(deco.name == "timeout" for deco in node.decorators):
        return None
    return int(get_run_time_limit_for_task(node.decorators))


def _deploy_time_decospecs(node) -> tuple[str, ...]:
    """Decorators added at deploy time (``--with``) that the pods must add too."""
    return tuple(
        deco.make_decorator_spec()
        for deco in node.decorators
        if not deco.statically_defined and deco.inserted_by is None
    )


MAX_MAP_NOTE = (
    "Each foreach runs as Airflow dynamic task mapping: a foreach wider than Airflow's "
    "`[core] max_map_length` (1024 by default) fails at run time; raise that setting for wider "
    "foreaches."
)


def _dag_doc(doc: Optional[str], has_foreach: bool) -> Optional[str]:
    """The DAG's doc_md: the flow docstring when it says more than its first line, plus a note
    on Airflow's mapping limit for flows with a foreach."""
    parts = []
    if doc and len(doc.strip().splitlines()) > 1:
        parts.append(doc.strip())
    if has_foreach:
        parts.append(MAX_MAP_NOTE)
    return markdown_text("\n\n".join(parts)) or None


def markdown_text(doc: Optional[str]) -> Optional[str]:
    """A doc_md value Airflow shows as text: one ending in ".md" would be read as a file name."""
    if doc and doc.rstrip().endswith(".md"):
        return doc + "\n"
    return doc


def _first_line(doc: Optional[str]) -> Optional[str]:
    if not doc:
        return None
    return doc.strip().splitlines()[0].strip() or None


def _system_metadata(ctx: FlowContext, token: str) -> tuple[dict, dict]:
    from metaflow import current

    project = None
    if current.get("project_name"):
        project = (current.project_name, current.branch_name, current.project_flow_name)
    return system_pod_metadata(ctx.username, ctx.flow_name, token, project)


def _runtime(
    ctx: FlowContext,
    options: CreateOptions,
    deployment: Deployment,
    pod_labels: dict,
    pod_annotations: dict,
    org: OrgConfig,
    pods: list[PodSpec],
) -> RuntimeSpec:
    org_env = tuple((key, airflow_literal(value)) for key, value in org.env)
    org_env = _config_env(ctx) + org_env
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
            ("METAFLOW_AIRFLOW_DAG_RUN_ID", "{{ run_id }}"),
        )
        common_env, templated_env = _split_env(env + org_env)
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
    common_env, templated_env = _split_env(_kubernetes_env(ctx, deployment) + org_env)
    return RuntimeSpec(
        **shared,
        common_env=common_env,
        templated_env=templated_env,
        bootstrap=_bootstrap(ctx, deployment),
        flow_dir=None,
        code_package_url=deployment.code_package_url,
        code_package_sha=deployment.code_package_sha,
        kube=_kube_connection(),
        log_capture=_log_capture(options.target),
        pod_labels=escaped_pairs(pod_labels),
        pod_annotations=escaped_pairs(pod_annotations),
        pod_defaults=pod_defaults(pods),
    )


def _split_env(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple, tuple]:
    """(values Airflow renders unchanged, values it renders per task), in the given order.

    Only the first can be built once and shared by every task: Airflow renders a templated
    field's objects in place.
    """
    static = tuple((k, v) for k, v in pairs if not needs_airflow_escape(v, whole_field=False))
    templated = tuple((k, v) for k, v in pairs if needs_airflow_escape(v, whole_field=False))
    return static, templated


def _config_env(ctx: FlowContext) -> tuple[tuple[str, str], ...]:
    """The flow's Config values, resolved now, for every task (visible in the DAG's diff)."""
    import json

    try:
        from metaflow.flowspec import FlowStateItems
    except ImportError:  # pragma: no cover - older Metaflow without Configs
        return ()
    configs = ctx.flow._flow_state[FlowStateItems.CONFIGS] or {}
    values = {name: value for name, (value, _) in configs.items() if value is not None}
    if not values:
        return ()
    text = json.dumps(values, separators=(",", ":"))  # the config's own key order
    return (("METAFLOW_FLOW_CONFIG_VALUE", airflow_literal(text)),)


def _bootstrap(ctx: FlowContext, deployment: Deployment) -> tuple[str, ...]:
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


def _log_capture(target: str) -> tuple[str, ...]:
    """Metaflow's log capture around a pod's step commands: (before, after, finally).

    The step's stdout and stderr also go to the datastore through ``mflog.tee`` and are saved
    whatever the outcome, so that ``python flow.py logs`` and the client's ``task.stdout`` work.
    """
    if target != "kubernetes":
        return ()
    from metaflow.mflog import BASH_SAVE_LOGS, bash_capture_logs

    before, after = bash_capture_logs("\0").split("\0")
    return (before, after, f"c=$?; {BASH_SAVE_LOGS}; exit $c")


def _kubernetes_env(ctx: FlowContext, deployment: Deployment) -> tuple[tuple[str, str], ...]:
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
        "METAFLOW_AIRFLOW_DAG_RUN_ID": "{{ run_id }}",
        "PYTHONUNBUFFERED": "x",
        "MF_DATASTORE": ctx.flow_datastore.TYPE,
        "MFLOG_STDOUT": "/tmp/mflog/stdout",
        "MFLOG_STDERR": "/tmp/mflog/stderr",
    }
    return tuple(
        (key, value if value.startswith("{{ run_id") else airflow_literal(str(value)))
        for key, value in env.items()
        if value is not None
    )


def _kube_connection() -> KubeConnection:
    from metaflow import metaflow_config as cfg

    conn_id = cfg.AIRFLOW_KUBERNETES_CONN_ID
    if conn_id in ("", "None", "none"):
        conn_id = None
    context = cfg.AIRFLOW_KUBERNETES_KUBECONFIG_CONTEXT or None
    config_file = cfg.AIRFLOW_KUBERNETES_KUBECONFIG_FILE or None
    return KubeConnection(
        in_cluster=not (conn_id or context or config_file),
        conn_id=conn_id,
        cluster_context=context,
        config_file=config_file,
        startup_timeout_seconds=int(cfg.AIRFLOW_KUBERNETES_STARTUP_TIMEOUT_SECONDS),
    )
