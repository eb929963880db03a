"""Metaflow flow → DagSpec: every decision and every validation, no source text."""

from __future__ import annotations

import builtins
import keyword
import os
from typing import Optional

from .. import __version__
from ..escaping import python_identifier, unique_name
from ..model import BranchSpec, DagSpec, SplitsSpec, TaskSpec
from ..options import CreateOptions
from ..org_config import OrgConfig
from .commands import TRIGGER_DECORATOR, step_run, task_env
from .context import FlowContext
from .deployment import Deployment
from .docs import dag_doc, first_line, markdown_text
from .exit_hooks import analyze_exit_hooks, local_hook_env
from .foreach import foreach_mappings
from .names import TEMPLATE_NAMES
from .option_checks import (
    check_env_names,
    check_flow_name,
    check_options,
    check_org,
    check_task_id_lengths,
)
from .params import analyze_params
from .pods import analyze_pod
from .runtime import build_runtime, system_metadata, with_deployment
from .schedule import analyze_schedule, analyze_timezone
from .secrets_check import check_secrets
from .sensors import analyze_sensors
from .step_settings import deploy_time_decospecs, retries, retry_delay, timeout_seconds
from .triggers import analyze_triggers, finish_asset
from .validation import (
    check_datastore,
    check_decorators,
    check_environment,
    check_graph,
    switch_structure,
)

__all__ = ["Deployment", "FlowContext", "analyze_flow", "with_deployment"]


def analyze_flow(
    ctx: FlowContext,
    options: CreateOptions,
    dag_id: str,
    deployment: Deployment,
    org: Optional[OrgConfig] = None,
) -> DagSpec:
    """Validate the flow for Airflow and decide everything the DAG file says."""
    org = org or OrgConfig()
    check_flow_name(ctx)
    check_decorators(ctx)
    check_environment(ctx)
    check_graph(ctx)
    check_datastore(ctx, options.offline, options.target)
    check_secrets(ctx)
    check_options(options)
    check_org(org)
    graph = ctx.graph
    schedule = analyze_schedule(ctx)
    params = analyze_params(ctx)
    triggers, event_parameters = analyze_triggers(ctx, params, schedule)
    finished, finished_extra = finish_asset(ctx)
    # Every step of a triggered run reads the events that started it (current.trigger).
    trigger_decospecs = (TRIGGER_DECORATOR,) if triggers else ()
    taken_vars = set(TEMPLATE_NAMES) | set(dir(builtins)) | set(keyword.kwlist)
    order = list(graph.sorted_nodes)
    task_vars = {step: python_identifier(step, taken_vars) for step in order}
    taken_task_ids = set(order)
    sensors = analyze_sensors(ctx, taken_task_ids, taken_vars)
    hooks = analyze_exit_hooks(ctx, options.target, taken_task_ids, taken_vars, org)

    system_labels, system_annotations = system_metadata(ctx, deployment.production_token)
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
    # cases meet runs after whichever case ran and reads that case's last task. Inside a foreach
    # body, Airflow's branching would skip a case for every split at once: there, every case
    # step is mapped over all splits and each instance skips itself unless its split's switch
    # instance chose its case.
    branches, branch_of, merges, run_if = [], {}, {}, {}
    switches = switch_structure(ctx)
    for step in order:
        if graph[step].type == "split-switch":
            cases = switches[step]
            if not cases.covered:
                merges[cases.merge] = (step, cases.last_of_case, cases.other_parents)
            if step in mappings:
                for case, steps in cases.steps_of_case.items():
                    for case_step in steps:
                        run_if[case_step] = (step, case)
                continue
            task_id = unique_name(f"{step}_choice", taken_task_ids)
            branch = BranchSpec(
                task_id=task_id,
                var=python_identifier(task_id, taken_vars),
                switch_task_id=step,
            )
            branches.append(branch)
            branch_of[step] = branch
    check_task_id_lengths(
        ctx,
        [(step, step) for step in order]
        + [(split.foreach_task_id, split.task_id) for split in splits_tasks.values()]
        + [(branch.switch_task_id, branch.task_id) for branch in branches],
    )

    tasks = []
    for step in order:
        node = graph[step]
        user_retries, error_retries = retries(node)
        if org.retries is not None and not any(d.name == "retry" for d in node.decorators):
            user_retries = org.retries
        mapping = mappings.get(step)
        is_mapped = mapping is not None
        check_env_names(ctx, step)
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
                    switch_merge=merges.get(step),
                    extra_decospecs=deploy_time_decospecs(node) + trigger_decospecs,
                ),
                env=task_env(ctx, step, params=params, event_parameters=event_parameters),
                retries=user_retries + error_retries,
                retry_delay_s=retry_delay(node),
                execution_timeout_s=timeout_seconds(node),
                pod=pod,
                trigger_rule=(
                    "none_failed_min_one_success" if step in merges or step in run_if else None
                ),
                run_if=run_if.get(step),
                announces=step == graph.end_step,
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
        # A switch whose cases name one step twice has one edge to it.
        for child in sorted(set(graph[step].out_funcs), key=order.index):
            edges.append((source, task_vars[child]))

    # Exit hooks follow the end step: a failure anywhere reaches it as upstream_failed.
    edges += [(task_vars[graph.end_step], hook.var) for hook in hooks]

    return DagSpec(
        dag_id=dag_id,
        flow_name=ctx.flow_name,
        flow_file=os.path.basename(ctx.flow_file),
        target=options.target,
        description=first_line(graph.doc),
        doc_md=dag_doc(graph.doc, bool(mappings)),
        owner=ctx.username,
        schedule=schedule,
        timezone=analyze_timezone(ctx) if schedule else None,
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
        exit_hooks=hooks,
        hook_env=local_hook_env(ctx) if hooks and options.target == "local" else (),
        runtime=build_runtime(
            ctx,
            options,
            deployment,
            system_labels,
            system_annotations,
            org,
            [task.pod for task in tasks if task.pod is not None],
            triggered=bool(triggers),
        ),
        finish_asset=finished,
        finish_extra=finished_extra,
        triggers=triggers,
        event_parameters=event_parameters,
        end_step=graph.end_step,
        on_failure_callback=(
            tuple(org.on_failure_callback.rsplit(".", 1)) if org.on_failure_callback else None
        ),
        generator=f"mfairflow {__version__}",
    )
