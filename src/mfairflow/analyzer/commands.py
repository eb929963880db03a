"""The step contract: the Metaflow commands, input paths and environment of every task.

Run id and task ids are derived deterministically, so that a task can name its parents' task
paths without asking Airflow for them:
  * Metaflow run id: ``airflow-`` + 12 hex digits of md5(dag id + "-" + Airflow run id), computed
    by the ``metaflow_run_id`` macro of the generated DAG;
  * task id: ``t-0`` for an unmapped step, ``t-<map index>`` for a foreach body (never
    numeric: Metaflow's metadata providers register only non-numeric task ids on their own);
    a resumed run's tasks have a prefix of their own (``r1-0``), and its steps read their input
    paths (written with ``t-``) with that prefix;
  * the parameters task: ``<run>/_parameters/params``.
A foreach step pushes one argument list per split (``["--split-index", "i"]``) as its XCom
return value; the body is mapped over it and the join lists ``0..n-1`` from its length.

A resumed run (``airflow resume``) names its origin run and the origin's tasks to copy in its
conf (``RESUME_KEY``); every step command ends with the options that make Metaflow copy the task
(``--clone-only``) or run it again as part of the resume (``--clone-run-id``).
"""

from __future__ import annotations

import os
from typing import Optional

from metaflow.metaflow_config import MAX_ATTEMPTS

from ..escaping import airflow_literal, shell_word, shell_words
from ..model import EventParameter, ParamSpec, StepRun
from .context import FlowContext

RUN_ID = "{{ metaflow_run_id(run_id) }}"
# Metaflow keeps MAX_ATTEMPTS attempts of a task (its datastore reads no later one): a task that
# Airflow runs more often (cleared again and again) runs as the last attempt, replacing it.
RETRY_COUNT = f"{{{{ [ti.try_number - 1, {MAX_ATTEMPTS - 1}] | min }}}}"
MAP_INDEX = "{{ ti.map_index }}"
# Task ids in the input paths the analyzer writes: those of a first run of the DAG.
TASK_PREFIX = "t-"
UNMAPPED_TASK_ID = TASK_PREFIX + "0"
MAPPED_TASK_ID = TASK_PREFIX + MAP_INDEX
# A task's own id: a resumed run's tasks get ids of their own ("r1-0", ...), as in Metaflow.
RUN_TASK_PREFIX = "{{ task_prefix(dag_run) }}"
OWN_TASK_ID = RUN_TASK_PREFIX + "0"
OWN_MAPPED_TASK_ID = RUN_TASK_PREFIX + MAP_INDEX
# The conf key of a resumed run: {"origin_run_id", "origin_prefix", "prefix", "step_to_rerun",
# "clone": {step: [indices of the origin's tasks to copy]}} (see live/resume.py).
RESUME_KEY = "mfairflow_resume"
RESUME_OPTIONS = "{{ resume_options(dag_run, ti.task_id, ti.map_index) }}"
AIRFLOW_RUN_ID = "{{ run_id }}"
# The events that started the run (a Jinja expression: Airflow 3 calls them asset events,
# Airflow 2 dataset events), as Metaflow's trigger metadata for current.trigger.
TRIGGERING_EVENTS = (
    "(triggering_asset_events if triggering_asset_events is defined "
    "else triggering_dataset_events)"
)
TRIGGER_EVENTS = "{{ trigger_events(" + TRIGGERING_EVENTS + ") }}"
TRIGGER_ENV = "MFAIRFLOW_TRIGGER_EVENTS"
TRIGGER_DECORATOR = "mfairflow_trigger"
# The templates the DAG itself writes into templated fields: the only strings that reach
# Airflow's Jinja unescaped. A value is exempt only when it *is* one of these objects (a
# setting that merely looks like one, or starts like one, is escaped).
DAG_TEMPLATES = (
    RUN_ID,
    RETRY_COUNT,
    MAP_INDEX,
    MAPPED_TASK_ID,
    AIRFLOW_RUN_ID,
    TRIGGER_EVENTS,
    RUN_TASK_PREFIX,
    OWN_TASK_ID,
    OWN_MAPPED_TASK_ID,
    RESUME_OPTIONS,
)
PARAMS_TASK_ID = "params"
XCOM_DECORATOR = "mfairflow_internal"


def is_dag_template(value: object) -> bool:
    """True only for the DAG's own templates (by identity: see ``DAG_TEMPLATES``)."""
    return any(value is template for template in DAG_TEMPLATES)


def metaflow_prefix(ctx: FlowContext, datastore_root: str, config_file: Optional[str]) -> str:
    """Shell words of ``python <flow file> <top-level options>`` for every task.

    ``config_file`` is the shell word of the file a local task writes the flow's resolved
    Configs to (see runtime.config_refs), or None (no Configs, or the kubernetes target, whose
    code package carries them).
    """
    from metaflow.decorators import flow_decorators
    from metaflow.util import dict_to_cli_options

    top_level: dict = {}
    for deco in flow_decorators(ctx.flow):
        top_level.update(deco.get_top_level_options())
    top_level.pop("config", None)
    top_level.pop("config_value", None)
    words = ["python", os.path.basename(ctx.flow_file)]
    words += list(dict_to_cli_options(top_level))
    words += [
        "--quiet",
        "--no-pylint",
        # Every task: the XCom Airflow routes by (foreach splits, switch choices), and the
        # parameters of a resumed run (see the extension's mfairflow_internal).
        f"--with={XCOM_DECORATOR}",
        f"--metadata={ctx.metadata.TYPE}",
        f"--environment={ctx.environment.TYPE}",
        f"--datastore={ctx.flow_datastore.TYPE}",
        f"--datastore-root={datastore_root}",
    ]
    if config_file is None:
        return shell_words(words)
    # Not quoted: the word may name a variable of the task's shell.
    return (
        shell_words(words)
        + " "
        + airflow_literal(f"--local-config-file={config_file}", whole_field=False)
    )


def init_params_command(tags: tuple[str, ...]) -> str:
    """The start step's first command: create the run's parameters task unless it exists.

    A retried start step finds the task from its first attempt and leaves it alone.
    """
    params_path = f"{RUN_ID}/_parameters/{PARAMS_TASK_ID}"
    tag_words = []
    for tag in tags:
        tag_words += ["--tag", tag]
    init = f"run_flow init --run-id {RUN_ID} --task-id {PARAMS_TASK_ID} {shell_words(tag_words)}"
    return (
        "{ run_flow dump --max-value-size=0 "
        f"{params_path} >/dev/null 2>&1 || {init.rstrip()}; }}"
    )


def step_options(tags: tuple[str, ...], namespace: Optional[str]) -> tuple[str, ...]:
    """Shell words every ``step`` command ends with: the run's tags and namespace."""
    words = []
    for tag in tags:
        words += ["--tag", shell_word(tag)]
    if namespace is not None:
        words.append(shell_word(f"--namespace={namespace}"))
    return tuple(words)


def step_run(
    ctx: FlowContext,
    step: str,
    *,
    user_code_retries: int,
    mapping,
    mappings: dict,
    splits_tasks: dict,
    extra_decospecs: tuple[str, ...],
    switch_merge: Optional[tuple[str, dict, tuple[str, ...]]] = None,
) -> StepRun:
    """What differs in one task's Metaflow ``step`` command (see ``StepRun``)."""
    node = ctx.graph[step]
    if step == ctx.graph.start_step:
        inputs: tuple[str, ...] = (f"_parameters/{PARAMS_TASK_ID}",)
    elif switch_merge is not None:
        inputs = _merge_input_paths(ctx, node, mapping, splits_tasks, *switch_merge)
    else:
        inputs = _input_paths(ctx, node, mapping, mappings, splits_tasks)
    return StepRun(
        inputs=inputs,
        user_code_retries=user_code_retries,
        mapped=mapping is not None,
        # The foreach's output: ["--split-index", "<i>"] (plus "--input-paths", "<outer
        # instance>" for a nested foreach, from its splits task).
        split_args=mapping is not None and mapping.first,
        decorators=tuple(shell_word(f"--with={spec}") for spec in extra_decospecs),
        init_params=step == ctx.graph.start_step,
    )


def _merge_input_paths(
    ctx: FlowContext,
    node,
    mapping,
    splits_tasks: dict,
    switch: str,
    last_of_case: dict,
    other_parents: tuple[str, ...],
) -> tuple[str, ...]:
    """Input paths of the step where a switch's cases meet: the last step of the case the
    switch chose (read from its XCom), beside the merge's other parents if it is a join.

    Inside a foreach, instance i reads the case that the switch's instance i chose; a foreach
    join where the cases meet reads, for every split, the case that split chose.
    """
    graph = ctx.graph
    if node.type == "join" and graph[node.split_parents[-1]].type == "foreach":
        foreach = node.split_parents[-1]
        chosen = _chosen_step(switch, last_of_case, "map_indexes=i")
        if foreach in splits_tasks:  # a nested foreach: this instance's slice of the splits
            ranges = f"ti.xcom_pull(task_ids={splits_tasks[foreach]!r}, key='ranges')"
            loop = f"{{% set r = {ranges}[ti.map_index] %}}{{% for i in range(r[0], r[1]) %}}"
        else:
            count = f"ti.xcom_pull(task_ids={foreach!r}) | length"
            loop = f"{{% for i in range({count}) %}}"
        # Metaflow's compressed form with an empty common prefix: ':' and the paths.
        each = f"{{{{ ',' if not loop.first }}}}{{{{ {chosen} }}}}/t-{{{{ i }}}}"
        return (f":{loop}{each}{{% endfor %}}",)
    if mapping is not None:
        chosen = _chosen_step(switch, last_of_case, "map_indexes=ti.map_index")
        task_id = MAPPED_TASK_ID
    else:
        chosen = _chosen_step(switch, last_of_case)
        task_id = UNMAPPED_TASK_ID
    others = tuple(f"{parent}/{task_id}" for parent in other_parents)
    return (*others, f"{{{{ {chosen} }}}}/{task_id}")


def _chosen_step(switch: str, last_of_case: dict, index: str = "", nested: bool = False) -> str:
    """Jinja expression of the last step of the case a switch chose (its XCom names the case).

    A case whose last step is a nested switch's choice is that switch's expression in turn;
    a nested switch that did not run (its case was not chosen) has no XCom, so its lookup uses
    ``get`` rather than failing the template.
    """
    pull = f"ti.xcom_pull(task_ids={switch!r}{', ' + index if index else ''})"
    if all(isinstance(last, str) for last in last_of_case.values()):
        table = repr(last_of_case)
    else:
        entries = [
            f"{case!r}: "
            + (_chosen_step(*last, index, nested=True) if isinstance(last, tuple) else repr(last))
            for case, last in last_of_case.items()
        ]
        table = "{" + ", ".join(entries) + "}"
    return f"{table}.get({pull})" if nested or index else f"{table}[{pull}]"


def _input_paths(
    ctx: FlowContext, node, mapping, mappings: dict, splits_tasks: dict
) -> tuple[str, ...]:
    """Input paths of a step relative to the run, () when they arrive with the split
    arguments."""
    graph = ctx.graph
    parents = sorted(node.in_funcs)
    if node.type == "join" and graph[node.split_parents[-1]].type == "foreach":
        foreach = node.split_parents[-1]
        body_end = parents[0]
        if foreach in splits_tasks:  # a nested foreach: this instance's slice of the flat list
            ranges = f"ti.xcom_pull(task_ids={splits_tasks[foreach]!r}, key='ranges')"
            slice_ = (
                f"{{% set r = {ranges}[ti.map_index] %}}{{{{ range(r[0], r[1]) | join(',') }}}}"
            )
            return (f"{body_end}/t-:{slice_}",)
        count = f"ti.xcom_pull(task_ids={foreach!r}) | length"
        # Metaflow's compressed form: common prefix, ':', comma-separated suffixes.
        return (f"{body_end}/t-:{{{{ range({count}) | join(',') }}}}",)
    if mapping is not None:
        if mapping.first:
            if mapping.level > 1:
                return ()  # from the splits task, with the split index
            return (f"{mapping.foreach}/{UNMAPPED_TASK_ID}",)
        # A later body step: its parents' instances of the same split (a join inside the body
        # reads every branch of its split).
        return tuple(
            f"{parent}/{MAPPED_TASK_ID}" for parent in _ordered_parents(ctx, node, parents)
        )
    return tuple(f"{parent}/{UNMAPPED_TASK_ID}" for parent in _ordered_parents(ctx, node, parents))


def _ordered_parents(ctx: FlowContext, node, parents: list[str]) -> list[str]:
    """A join's parents in the order of the split's branches (as Metaflow orders inputs)."""
    if node.type != "join" or not node.split_parents:
        return parents
    order = {name: i for i, name in enumerate(ctx.graph.sorted_nodes)}
    return sorted(parents, key=lambda name: order.get(name, 0))


def task_env(
    ctx: FlowContext,
    step: str,
    *,
    params: tuple[ParamSpec, ...],
    event_parameters: tuple[EventParameter, ...] = (),
) -> tuple[tuple[str, str], ...]:
    """Step-specific environment: @environment vars, and the parameters for the start step
    (a parameter that a triggering event sets: the event's field, else the param)."""
    env: dict[str, str] = {}
    deco = ctx.step_decorator(step, "environment")
    if deco is not None:
        for key, value in (deco.attributes.get("vars") or {}).items():
            env[str(key)] = airflow_literal(str(value))
    if step == ctx.graph.start_step:
        from_events = {mapping.param for mapping in event_parameters}
        for param in params:
            expression = f"params[{param.name!r}]"
            if param.name in from_events:
                # The text init reads, checked and converted by the DAG (event_param_text).
                expression = f"trigger_value({param.name!r}, {expression}, {TRIGGERING_EVENTS})"
            elif param.type in ("object", "array"):
                expression += " | tojson"
            env[param.env_var] = "{{ " + expression + " }}"
    return tuple(env.items())
