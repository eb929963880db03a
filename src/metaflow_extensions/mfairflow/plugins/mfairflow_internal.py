"""Step decorator of every task of an mfairflow DAG (runs inside the task).

Self-contained on purpose: it travels in the code package to pods that do not have mfairflow.
It hands Airflow the data it routes a run by, and keeps a resumed run (`airflow resume`) whole:

* after a foreach or switch step succeeded, its XCom (the split list, the chosen case);
* a foreach or switch task that a resumed run copies from its origin run (Metaflow's
  ``step --clone-only``, which runs no decorator hook after the copy): the same XCom, read from
  the origin task, when the process starts;
* a task that runs again in a resumed run (``--clone-run-id``): the parameter values of this run
  (the resume may give new ones), not those its copied parents carry from the origin run.
"""

import json
import os
import sys

from metaflow import current
from metaflow.decorators import StepDecorator

from .airflow_kubernetes import command_args

XCOM_FILE_ENV = "MFAIRFLOW_XCOM_FILE"
DEFAULT_XCOM_FILE = "/airflow/xcom/return.json"  # read by the KubernetesPodOperator's sidecar
ROUTED = ("foreach", "split-switch")
# The task id of a run's parameters task in an mfairflow DAG (the start step's INIT_PARAMS).
PARAMS_TASK_ID = "params"


def routing_value(kind, num_splits, transition):
    """The XCom of a foreach step (one argument list per split: its body is mapped over them)
    or of a switch step (the name of the step it chose)."""
    if kind == "foreach":
        return [["--split-index", str(i)] for i in range(num_splits)]
    return transition[0][0]


def write_xcom(value):
    """Write ``value`` where Airflow reads the task's XCom (atomically)."""
    path = os.environ.get(XCOM_FILE_ENV, DEFAULT_XCOM_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(value, handle)
    os.replace(tmp, path)


def clone_origin(argv):
    """(step, origin task pathspec) when this process is ``step STEP ... --clone-only ORIGIN``."""
    args = command_args(argv)
    if len(args) < 2 or args[0] != "step":
        return None
    for i, arg in enumerate(args):
        if arg == "--clone-only" and i + 1 < len(args):
            return args[1], args[i + 1]
        if arg.startswith("--clone-only="):
            return args[1], arg.split("=", 1)[1]
    return None


def take_values(datastore, source, names):
    """Metaflow's ``passdown_partial`` (the artifacts ``names`` of ``source`` become those of
    ``datastore``), also for a datastore opened for reading, which that method refuses."""
    for name in names:
        datastore._objects[name] = source._objects[name]
        datastore._info[name] = source._info[name]


class MfairflowInternalDecorator(StepDecorator):
    """Routing XCom for Airflow, and the parameters of a resumed run (see the module)."""

    name = "mfairflow_internal"

    def step_init(self, flow, graph, step_name, decorators, environment, flow_datastore, logger):
        origin = clone_origin(sys.argv)
        if origin is None or origin[0] != step_name or graph[step_name].type not in ROUTED:
            return
        run_id, step, task_id = origin[1].split("/")
        source = flow_datastore.get_task_datastore(run_id, step, task_id)
        kind = graph[step_name].type
        if kind == "foreach":
            write_xcom(routing_value(kind, source["_foreach_num_splits"], None))
        else:
            write_xcom(routing_value(kind, None, source["_transition"]))

    def task_pre_step(
        self,
        step_name,
        task_datastore,
        metadata,
        run_id,
        task_id,
        flow,
        graph,
        retry_count,
        max_user_code_retries,
        ubf_context,
        inputs,
    ):
        if not current.get("origin_run_id") or not inputs:
            return
        # Metaflow reads a parameter from the task's first input, and passes it down from
        # there: in a resumed run that input may be a copy of the origin's task, which holds the
        # origin's values. This run's parameters task holds the values of the resume.
        flow_datastore = task_datastore.parent_datastore
        params = flow_datastore.get_task_datastore(run_id, "_parameters", PARAMS_TASK_ID)
        names = [name for name, _ in flow._get_parameters()]
        theirs = dict(zip(names, inputs[0].keys_for_artifacts(names)))
        ours = dict(zip(names, params.keys_for_artifacts(names)))
        changed = [name for name in names if ours[name] and ours[name] != theirs[name]]
        for datastore in (inputs[0], task_datastore):
            take_values(datastore, params, changed)

    def task_finished(self, step_name, flow, graph, is_task_ok, retry_count, max_user_code_retries):
        if not is_task_ok:
            return
        kind = graph[step_name].type
        if kind in ROUTED:
            num_splits = flow._foreach_num_splits if kind == "foreach" else None
            write_xcom(routing_value(kind, num_splits, flow._transition))
