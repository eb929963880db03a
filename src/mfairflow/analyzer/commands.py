"""The step contract: the Metaflow commands, input paths and environment of every task.

Run id and task ids are derived deterministically, so that a task can name its parents' task
paths without asking Airflow for them:
  * Metaflow run id: ``airflow-`` + 12 hex digits of md5(dag id + "-" + Airflow run id), computed
    by the ``metaflow_run_id`` macro of the generated DAG;
  * task id: ``t-0`` for an unmapped step, ``t-<map index>`` for a foreach body (never
    numeric: Metaflow's metadata providers register only non-numeric task ids on their own);
  * the parameters task: ``<run>/_parameters/params``.
A foreach step pushes one argument list per split (``["--split-index", "i"]``) as its XCom
return value; the body is mapped over it and the join lists ``0..n-1`` from its length.
"""

from __future__ import annotations

import os
from typing import Optional

from ..escaping import airflow_literal, shell_word, shell_words
from ..model import ParamSpec
from .context import FlowContext

RUN_ID = "{{ metaflow_run_id(run_id) }}"
RETRY_COUNT = "{{ ti.try_number - 1 }}"
MAP_INDEX = "{{ ti.map_index }}"
UNMAPPED_TASK_ID = "t-0"
MAPPED_TASK_ID = "t-" + MAP_INDEX
PARAMS_TASK_ID = "params"
XCOM_DECORATOR = "mfairflow_internal"


def metaflow_prefix(
    ctx: FlowContext, target: str, datastore_root: str, flow_dir: Optional[str]
) -> str:
    """Shell words of ``python <flow file> <top-level options>`` for every task."""
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
        f"--metadata={ctx.metadata.TYPE}",
        f"--environment={ctx.environment.TYPE}",
        f"--datastore={ctx.flow_datastore.TYPE}",
        f"--datastore-root={datastore_root}",
    ]
    return shell_words(words)


def step_commands(
    ctx: FlowContext,
    step: str,
    *,
    params: tuple[ParamSpec, ...],
    tags: tuple[str, ...],
    namespace: Optional[str],
    user_code_retries: int,
    mapping,
    mappings: dict,
    splits_tasks: dict,
    pushes_xcom: bool,
    extra_decospecs: tuple[str, ...],
    switch_merge: Optional[tuple[str, dict]] = None,
) -> tuple[str, ...]:
    """The commands of one task, as shell text for the DAG's ``run_flow`` function."""
    node = ctx.graph[step]
    tag_words = []
    for tag in tags:
        tag_words += ["--tag", tag]
    commands = []
    if step == ctx.graph.start_step:
        params_path = f"{RUN_ID}/_parameters/{PARAMS_TASK_ID}"
        init = (
            f"run_flow init --run-id {RUN_ID} --task-id {PARAMS_TASK_ID} {shell_words(tag_words)}"
        ).rstrip()
        commands.append(
            "{ run_flow dump --max-value-size=0 " f"{params_path} >/dev/null 2>&1 || {init}; }}"
        )
        input_paths = params_path
    elif switch_merge is not None:
        # The cases' last steps, by the case the switch chose (read from its XCom).
        switch, last_of_case = switch_merge
        choice = f"ti.xcom_pull(task_ids={switch!r})"
        input_paths = f"{RUN_ID}/{{{{ {last_of_case!r}[{choice}] }}}}/{UNMAPPED_TASK_ID}"
    else:
        input_paths = _input_paths(ctx, node, mapping, mappings, splits_tasks)
    decospecs = list(extra_decospecs) + ([XCOM_DECORATOR] if pushes_xcom else [])
    with_words = " ".join(shell_word(f"--with={spec}") for spec in decospecs)
    step_words = [
        "run_flow",
        with_words,
        "step",
        shell_word(step),
        f"--run-id {RUN_ID}",
        f"--task-id {MAPPED_TASK_ID if mapping else UNMAPPED_TASK_ID}",
        f"--retry-count {RETRY_COUNT}",
        f"--max-user-code-retries {user_code_retries}",
        f"--input-paths {input_paths}" if input_paths else "",
        shell_words(tag_words),
    ]
    if namespace is not None:
        step_words.append(shell_word(f"--namespace={namespace}"))
    if mapping is not None and mapping.first:
        # The foreach's output: ["--split-index", "<i>"] (plus "--input-paths", "<outer
        # instance>" for a nested foreach, from its splits task).
        step_words.append('"$@"')
    commands.append(" ".join(word for word in step_words if word))
    return tuple(commands)


def _input_paths(ctx: FlowContext, node, mapping, mappings: dict, splits_tasks: dict) -> str:
    """``--input-paths`` of a step, "" when they arrive with the split arguments."""
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
            return f"{RUN_ID}/{body_end}/t-:{slice_}"
        count = f"ti.xcom_pull(task_ids={foreach!r}) | length"
        # Metaflow's compressed form: common prefix, ':', comma-separated suffixes.
        return f"{RUN_ID}/{body_end}/t-:{{{{ range({count}) | join(',') }}}}"
    if mapping is not None:
        if mapping.first:
            if mapping.level > 1:
                return ""  # from the splits task, with the split index
            return f"{RUN_ID}/{mapping.foreach}/{UNMAPPED_TASK_ID}"
        # A later body step: its predecessor's instance of the same split.
        return f"{RUN_ID}/{parents[0]}/{MAPPED_TASK_ID}"
    return ",".join(
        f"{RUN_ID}/{parent}/{UNMAPPED_TASK_ID}" for parent in _ordered_parents(ctx, node, parents)
    )


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
    is_mapped: bool,
    target: str,
) -> tuple[tuple[str, str], ...]:
    """Step-specific environment: @environment vars, parameters (start), log pathspec."""
    env: dict[str, str] = {}
    deco = ctx.step_decorator(step, "environment")
    if deco is not None:
        for key, value in (deco.attributes.get("vars") or {}).items():
            env[str(key)] = airflow_literal(str(value))
    if step == ctx.graph.start_step:
        for param in params:
            expression = f"params[{param.name!r}]"
            if param.type in ("object", "array"):
                expression += " | tojson"
            env[param.env_var] = "{{ " + expression + " }}"
    if target == "kubernetes":
        task_id = MAPPED_TASK_ID if is_mapped else UNMAPPED_TASK_ID
        env["MF_PATHSPEC"] = f"{ctx.flow_name}/{RUN_ID}/{step}/{task_id}"
        env["MF_ATTEMPT"] = RETRY_COUNT
    return tuple(env.items())
