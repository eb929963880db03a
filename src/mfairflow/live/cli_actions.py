"""The live commands with Metaflow's CLI state object: resolve the DAG, call `commands`."""

from __future__ import annotations

import json
from typing import Optional

from .client import AirflowClient, require_config
from .commands import Triggered, delete, run_status, terminate, trigger


def dag_id_of(obj, name: Optional[str]) -> str:
    """The DAG id `create` gives this flow (``--name`` or flow name, or @project's name)."""
    from ..deploy import resolve_dag_name

    return resolve_dag_name(obj.flow.name, _name(obj, name))[0]


def _name(obj, name: Optional[str]) -> Optional[str]:
    """The command's --name, else the group's (`airflow --name X status ...`, as the Deployer
    calls the commands)."""
    return name or getattr(obj, "mfairflow_group_name", None)


def given_params(obj, values: dict) -> dict:
    """The Parameters given on the command line, typed, as Airflow conf (by parameter name)."""
    from metaflow.parameters import DelayedEvaluationParameter, JSONTypeClass

    conf = {}
    for _, param in obj.flow._get_parameters():
        value = values.get(param.name.replace("-", "_").lower())
        if value is None:
            continue
        if isinstance(value, DelayedEvaluationParameter):
            value = value(return_str=True)
        if isinstance(param.kwargs.get("type"), JSONTypeClass) and isinstance(value, str):
            value = json.loads(value)
        conf[param.name] = value
    return conf


def trigger_flow(
    obj, name: Optional[str], values: dict, airflow_run_id: Optional[str]
) -> Triggered:
    """Post a run with the Parameters given on the command line (typed, as Airflow conf)."""
    client = AirflowClient(require_config())
    return trigger(client, dag_id_of(obj, name), given_params(obj, values), airflow_run_id)


def resume_flow(
    obj,
    name: Optional[str],
    origin: str,
    step_to_rerun: Optional[str],
    values: dict,
    airflow_run_id: Optional[str],
) -> Triggered:
    """Post a run that resumes ``origin`` (see live.resume), with the Parameters given."""
    from .resume import origin_of, plan_resume, resume, resume_conf

    client = AirflowClient(require_config())
    dag_id = dag_id_of(obj, name)
    origin = origin_of(client, dag_id, obj.flow.name, origin)
    plan = plan_resume(obj.flow_datastore, obj.flow, origin, step_to_rerun)
    conf = resume_conf(plan, given_params(obj, values), step_to_rerun)
    return resume(client, dag_id, conf, airflow_run_id)


def run_action(obj, name: Optional[str], run: str, action: str) -> str:
    """`status` or `terminate` of one run; the line to print."""
    client = AirflowClient(require_config())
    dag_id = dag_id_of(obj, name)
    if action == "status":
        return run_status(client, dag_id, run)
    found = terminate(client, dag_id, run)
    return f"Run *{found['dag_run_id']}* of DAG *{dag_id}* terminated."


def delete_flow(obj, name: Optional[str], authorize: Optional[str]) -> None:
    """`airflow delete`: the production token checked as `create` does, then commands.delete."""
    from ..deploy import check_authorized, resolve_dag_name
    from ..pipeline import flow_context

    dag_id, prefix, _ = resolve_dag_name(obj.flow.name, _name(obj, name))
    check_authorized(flow_context(obj), dag_id, prefix, authorize, "delete")
    client = AirflowClient(require_config())
    delete(client, dag_id, obj.echo)
