"""`airflow resume`: a new DAG run that copies what succeeded in an earlier run, runs the rest.

Metaflow's own `resume` decides task by task while it runs; here the decision is made once,
before the DAG run starts, from the origin run in the datastore, as Metaflow decides when it
clones an origin run for a scheduler (`NativeRuntime.clone_original_run`): a task is copied
when it succeeded in the origin run and its step is neither the step to rerun nor after it;
every other task runs again. A task of an mfairflow DAG is named by its step and map index
(``t-3``: the fourth split), so the new run's task of a step and index copies the origin's task
of that step and index. As in Metaflow's resume, the new run's tasks get ids of their own: its
prefix (``r1-``, or ``r2-`` when the origin is itself a resumed run) replaces the origin's.
The plan travels in the DAG run's conf (``RESUME_KEY``), beside the parameters: the origin's
values, replaced by those given to the resume; each task's command picks Metaflow's
``--clone-only`` or ``--clone-run-id`` from it (the DAG's ``resume_options``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Optional

from ..analyzer.commands import PARAMS_TASK_ID, RESUME_KEY, TASK_PREFIX
from .client import RUN_ID, AirflowClient, AirflowError, check_dag_id, shown
from .commands import Triggered, metaflow_run_id, trigger

# A Metaflow run id as the resume reads it from the datastore and writes it into the DAG run's
# conf (the DAG checks it again): letters, digits, "_" and "-".
METAFLOW_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,250}")


@dataclass(frozen=True)
class ResumePlan:
    """What a resumed run takes from its origin run."""

    origin_run_id: str
    origin_prefix: str
    """The prefix of the origin run's task ids (``t-``, ``r1-``, ...)."""
    prefix: str
    """The prefix of the resumed run's task ids."""
    clone: dict
    """Step → the map indices (0 for an unmapped step) of the tasks copied from the origin."""
    params: dict
    """Parameter name → the origin run's value (as Metaflow stored it)."""


def later_steps(steps: dict, step: str) -> set:
    """``step`` and every step after it in the graph (``steps``: the run's ``_graph_info``)."""
    found, todo = set(), [step]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += steps[name]["next"]
    return found


def plan_resume(
    flow_datastore, flow, origin_run_id: str, step_to_rerun: Optional[str] = None
) -> ResumePlan:
    """The tasks and parameter values a resume of ``origin_run_id`` takes from it."""
    from metaflow.datastore import TaskDataStoreSet

    if not METAFLOW_RUN_ID.fullmatch(origin_run_id):
        raise AirflowError(
            f"{shown(origin_run_id)} is not a Metaflow run id",
            hint="give the Metaflow run id of the run to resume (airflow-...)",
        )
    tasks = list(
        TaskDataStoreSet(
            flow_datastore, origin_run_id, prefetch_data_artifacts=["_task_ok", "_graph_info"]
        )
    )
    flow_name = flow.name
    if not tasks:
        raise AirflowError(
            f"the flow {flow_name!r} has no run {origin_run_id!r} in its datastore "
            f"({flow_datastore.datastore_root})",
            hint="give the Metaflow run id of a run of this flow (`airflow trigger` prints it), "
            "with the datastore settings the DAG was deployed with",
        )
    params = [t for t in tasks if t.step_name == "_parameters"]
    named = [_task_name(t.task_id) for t in tasks if t.step_name != "_parameters"]
    prefixes = {name[0] for name in named if name is not None}
    if [t.task_id for t in params] != [PARAMS_TASK_ID] or None in named or len(prefixes) > 1:
        raise AirflowError(
            f"the run {flow_name}/{origin_run_id} was not run by an Airflow DAG of mfairflow",
            hint="resume a run of `python flow.py run` with `python flow.py resume`",
        )
    origin_prefix = prefixes.pop() if prefixes else TASK_PREFIX
    steps = params[0]["_graph_info"]["steps"]
    if step_to_rerun is not None and step_to_rerun not in steps:
        raise AirflowError(
            f"{step_to_rerun!r} is not a step of {flow_name}/{origin_run_id}",
            hint="name one of its steps: " + ", ".join(sorted(steps)),
        )
    rerun = later_steps(steps, step_to_rerun) if step_to_rerun else set()
    clone: dict = {}
    for task in tasks:
        if task.step_name in rerun or task.step_name == "_parameters":
            continue
        if task.get("_task_ok", False):
            clone.setdefault(task.step_name, []).append(_task_name(task.task_id)[1])
    generation = origin_prefix[1:-1] if origin_prefix.startswith("r") else "0"
    return ResumePlan(
        origin_run_id=origin_run_id,
        origin_prefix=origin_prefix,
        prefix=f"r{int(generation) + 1}-" if generation.isdigit() else "r1-",
        clone={step: sorted(indices) for step, indices in sorted(clone.items())},
        params=_origin_params(flow, params[0]),
    )


def _task_name(task_id: str) -> Optional[tuple]:
    """(prefix, map index) of a task id of an mfairflow DAG (``r1-3`` → ``("r1-", 3)``), or
    None for another task id (a numeric one of `python flow.py run`)."""
    prefix, dash, index = task_id.rpartition("-")
    if not (dash and index.isdigit() and prefix.replace("_", "").isalnum() and prefix.isascii()):
        return None
    return prefix + dash, int(index)


def _origin_params(flow, params_task) -> dict:
    """The origin run's parameter values, by parameter name."""
    values = {}
    for var, param in flow._get_parameters():
        if getattr(param, "IS_CONFIG_PARAMETER", False):  # Configs come with the deployment
            continue
        for key in (var, param.name.replace("-", "_")):
            if key in params_task:
                values[param.name] = params_task[key]
                break
    return values


def origin_of(client: AirflowClient, dag_id: str, flow_name: str, run: str) -> str:
    """The Metaflow run id ``run`` names (a Metaflow run id, ``Flow/run``, or an Airflow run id
    of the DAG); refused while that DAG run is still going (it would be copied half-done)."""
    flow, _, run_id = str(run).rpartition("/")
    if flow and not flow.isidentifier():  # not a pathspec Flow/run: checked whole below
        flow, run_id = "", str(run)
    if flow and flow != flow_name:
        raise AirflowError(
            f"{shown(run)} is a run of the flow {flow!r}, not of {flow_name!r}",
            hint=f"resume it from {flow}'s flow file, or give a run of {flow_name}",
        )
    if client.get_dag(check_dag_id(dag_id)) is None:
        raise AirflowError(
            f"Airflow has no DAG {dag_id!r}",
            hint="deploy it first with `python flow.py airflow create`",
        )
    found = client.get_run(dag_id, run_id) if RUN_ID.fullmatch(run_id) else None
    if found is None and METAFLOW_RUN_ID.fullmatch(run_id):
        runs = client.list_runs(dag_id)
        found = next((r for r in runs if metaflow_run_id(dag_id, r["dag_run_id"]) == run_id), None)
    if found is None:  # not a run Airflow lists for this DAG: the datastore tells
        if not METAFLOW_RUN_ID.fullmatch(run_id):
            raise AirflowError(
                f"{shown(run)} is not a Metaflow run id nor an Airflow run of {dag_id!r}",
                hint="give the Metaflow run id (airflow-...) or the Airflow run id of the run",
            )
        return run_id
    if found.get("state") in ("queued", "running"):
        raise AirflowError(
            f"the run {run_id!r} (Airflow run {found['dag_run_id']!r}) is still running",
            hint="wait until it ended, or end it with `airflow terminate`, then resume it",
        )
    return metaflow_run_id(dag_id, found["dag_run_id"])


def resume_conf(plan: ResumePlan, given: dict, step_to_rerun: Optional[str] = None) -> dict:
    """The resumed DAG run's conf: the origin's parameters with ``given`` over them, and the
    plan under RESUME_KEY (what the DAG's ``resume_options`` reads)."""
    try:  # Airflow's conf is JSON
        conf = json.loads(json.dumps({**plan.params, **given}, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise AirflowError(
            f"a parameter value of the origin run cannot travel as Airflow conf ({exc})",
            hint="give that parameter's value to the resume",
        ) from None
    conf[RESUME_KEY] = {
        "origin_run_id": plan.origin_run_id,
        "origin_prefix": plan.origin_prefix,
        "prefix": plan.prefix,
        "step_to_rerun": step_to_rerun,
        "clone": plan.clone,
    }
    return conf


def resume(
    client: AirflowClient, dag_id: str, conf: dict, airflow_run_id: Optional[str] = None
) -> Triggered:
    """Post the resumed DAG run (its Airflow run id starts ``mf-resume-`` unless given)."""
    return trigger(client, dag_id, conf, airflow_run_id, prefix="mf-resume-")
