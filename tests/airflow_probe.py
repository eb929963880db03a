"""Load a folder of DAG files with Airflow's own DagBag and print what Airflow sees, as JSON.

    python tests/airflow_probe.py DAG_FOLDER

Runs under Airflow 2.x and 3.x alike and imports neither pytest nor mfairflow: it is what the
scheduler would see. stdout carries exactly one JSON document:

    {"airflow_version": "...", "import_errors": {file: message},
     "dags": {dag_id: {schedule, catchup, max_active_tasks, dagrun_timeout_seconds, tags,
                       is_paused_upon_creation, params, description, doc_md,
                       tasks: {task_id: {...}}}}}

Mapped tasks (``.partial(...).expand(...)``) are read from their ``partial_kwargs``; operator
arguments that Airflow converts on construction (a KubernetesPodOperator's ``env_vars`` become
``V1EnvVar`` objects) are normalized so that both forms compare equal.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings

POD_FIELDS = (
    "image",
    "namespace",
    "service_account_name",
    "node_selector",
    "labels",
    "annotations",
)
SENSOR_FIELDS = (
    "bucket_key",
    "bucket_name",
    "wildcard_match",
    "aws_conn_id",
    "verify",
    "external_dag_id",
    "external_task_ids",
    "allowed_states",
    "failed_states",
    "check_existence",
    "mode",
    "timeout",
    "poke_interval",
    "exponential_backoff",
    "soft_fail",
    "doc",
)
_MISSING = object()


def seconds(value):
    """A timedelta (or number) as seconds; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)


def plain(value):
    """JSON-compatible form of an operator argument (Kubernetes models become dicts)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return {k: plain(v) for k, v in to_dict().items() if v is not None}
    return repr(value)


def is_mapped(task) -> bool:
    """MappedOperator on both versions (Airflow 2's has no ``is_mapped`` attribute)."""
    flag = getattr(task, "is_mapped", None)
    if isinstance(flag, bool):
        return flag
    return type(task).__name__ == "MappedOperator"


def operator_name(task) -> str:
    if is_mapped(task):
        cls = getattr(task, "operator_class", None)
        if isinstance(cls, type):
            return cls.__name__
        return str(getattr(task, "operator_name", None) or getattr(task, "task_type", ""))
    return type(task).__name__


def argument(task, name: str):
    """An operator argument: from ``partial_kwargs`` for a mapped task, else the attribute."""
    if is_mapped(task):
        kwargs = getattr(task, "partial_kwargs", {}) or {}
        if name in kwargs:
            return kwargs[name]
    return getattr(task, name, None)


def env_vars(value) -> dict:
    """``{name: value}`` from a dict (as written) or a list of V1EnvVar (as converted)."""
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    result = {}
    for item in value:
        if isinstance(item, dict):
            result[item["name"]] = item.get("value")
        else:
            result[item.name] = item.value
    return result


def env_from_secrets(value) -> list:
    names = []
    for item in value or ():
        ref = item.get("secret_ref") if isinstance(item, dict) else item.secret_ref
        if ref is None:
            continue
        names.append(ref.get("name") if isinstance(ref, dict) else ref.name)
    return names


def container_resources(value) -> dict:
    if value is None:
        return {"requests": None, "limits": None}
    if isinstance(value, dict):
        return {"requests": value.get("requests"), "limits": value.get("limits")}
    return {"requests": plain(value.requests), "limits": plain(value.limits)}


def tolerations(value) -> list:
    result = []
    for item in value or ():
        data = item if isinstance(item, dict) else plain(item)
        result.append({k: v for k, v in data.items() if v is not None})
    return result


def has_pre_execute_hook(task) -> bool:
    """True when the task was given a ``pre_execute`` hook (as an argument)."""
    if is_mapped(task):
        return (getattr(task, "partial_kwargs", {}) or {}).get("pre_execute") is not None
    return getattr(task, "_pre_execute_hook", None) is not None


def asset_name(asset) -> str:
    """An Asset's name (Airflow 3) or a Dataset's URI (Airflow 2)."""
    return getattr(asset, "name", None) or asset.uri


def schedule_assets(dag) -> list:
    """The names of the Assets (Datasets) a DAG is scheduled on, sorted; [] for none."""
    timetable = dag.timetable
    condition = getattr(timetable, "asset_condition", None) or getattr(
        timetable, "dataset_condition", None
    )
    if condition is None:
        return []
    found = []

    def walk(node) -> None:
        children = getattr(node, "objects", None)
        if children is not None:  # AssetAll / DatasetAll
            for child in children:
                walk(child)
        elif getattr(node, "name", None) or getattr(node, "uri", None):
            found.append(asset_name(node))  # (not the null condition of a time schedule)

    walk(condition)
    return sorted(found)


def describe_task(task) -> dict:
    info = {
        "operator": operator_name(task),
        "upstream": sorted(task.upstream_task_ids),
        "downstream": sorted(task.downstream_task_ids),
        "is_mapped": is_mapped(task),
        "pool": argument(task, "pool"),
        "retries": argument(task, "retries"),
        "retry_delay_seconds": seconds(argument(task, "retry_delay")),
        "execution_timeout_seconds": seconds(argument(task, "execution_timeout")),
        "doc_md": argument(task, "doc_md"),
        "trigger_rule": str(
            getattr(argument(task, "trigger_rule"), "value", None) or argument(task, "trigger_rule")
        ),
        "pre_execute_hook": has_pre_execute_hook(task),
        "outlets": sorted(asset_name(a) for a in (argument(task, "outlets") or [])),
    }
    name = info["operator"]
    if name == "KubernetesPodOperator":
        for field in POD_FIELDS:
            info[field] = plain(argument(task, field))
        info["container_resources"] = container_resources(argument(task, "container_resources"))
        info["env_vars"] = env_vars(argument(task, "env_vars"))
        info["env_from"] = env_from_secrets(argument(task, "env_from"))
        info["tolerations"] = tolerations(argument(task, "tolerations"))
        info["cmds"] = plain(argument(task, "cmds"))
        info["do_xcom_push"] = argument(task, "do_xcom_push")
        if is_mapped(task):
            expand = getattr(task, "expand_input", None)
            value = getattr(expand, "value", None)
            info["expand_keys"] = sorted(value) if isinstance(value, dict) else None
    elif name.endswith("Sensor"):
        for field in SENSOR_FIELDS:
            value = getattr(task, field, _MISSING)
            if value is not _MISSING:
                info[field] = plain(value)
        if hasattr(task, "execution_delta"):
            info["execution_delta_seconds"] = seconds(task.execution_delta)
    return info


def schedule_of(dag):
    """The schedule as written: a cron expression or preset string, or None (also for a DAG
    scheduled on Assets only; beside Assets, the cron of the assets-or-time timetable)."""
    if schedule_assets(dag):
        inner = getattr(dag.timetable, "timetable", None)
        if inner is None:
            return None
        return getattr(inner, "_expression", None) or getattr(inner, "expression", None)
    for attribute in ("schedule", "schedule_interval"):
        value = getattr(dag, attribute, _MISSING)
        if value is not _MISSING:
            return None if value is None else str(value)
    return None  # pragma: no cover - every supported Airflow has one of the two


# The scheduled runs the probe lists: from this instant (a Thursday, three days before Europe's
# 2026 change to summer time), as the scheduler would plan them with catchup.
RUNS_FROM = "2026-03-26T00:00:00+00:00"
RUNS = 4


def next_runs(dag) -> list:
    """When the DAG's first RUNS scheduled runs start (ISO, UTC), or [] if it has no schedule."""
    import pendulum
    from airflow.timetables.base import TimeRestriction

    if schedule_of(dag) is None:
        return []
    timetable = dag.timetable
    if not hasattr(timetable, "next_dagrun_info"):  # Airflow 3: the scheduler's (core) one
        from airflow.serialization.serialized_objects import DagSerialization

        timetable = DagSerialization.from_dict(DagSerialization.to_dict(dag)).timetable
    runs, last = [], None
    earliest = pendulum.parse(RUNS_FROM)
    for _ in range(RUNS):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last,
            restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True),
        )
        if info is None:  # scheduled on Assets only
            break
        runs.append(info.run_after.in_timezone("UTC").isoformat())
        last = info.data_interval
    return runs


def describe_params(dag) -> dict:
    params = {}
    for name in dag.params:
        param = dag.params.get_param(name)
        params[name] = {
            "default": plain(param.value),
            "schema": plain(param.schema),
            "description": getattr(param, "description", None),
        }
    return params


def describe_dag(dag) -> dict:
    return {
        "schedule": schedule_of(dag),
        "timetable": type(dag.timetable).__name__,
        "assets": schedule_assets(dag),
        "timezone": str(dag.timezone.name),
        "next_runs": next_runs(dag),
        "catchup": dag.catchup,
        "max_active_tasks": dag.max_active_tasks,
        "dagrun_timeout_seconds": seconds(dag.dagrun_timeout),
        "tags": sorted(dag.tags or ()),
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "params": describe_params(dag),
        "description": dag.description,
        "doc_md": dag.doc_md,
        "tasks": {task_id: describe_task(task) for task_id, task in sorted(dag.task_dict.items())},
    }


def load(folder: str):
    """Airflow's version and its DagBag of ``folder`` (Airflow 3 first, then Airflow 2)."""
    import airflow

    try:  # Airflow 3
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=folder)
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag

        bag = DagBag(dag_folder=folder, include_examples=False)
    return airflow.__version__, bag


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: airflow_probe.py DAG_FOLDER", file=sys.stderr)
        return 2
    folder = os.path.abspath(argv[1])
    home = tempfile.mkdtemp(prefix="airflow-probe-")
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = folder
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"
    warnings.simplefilter("ignore")
    # Whatever Airflow prints while it loads goes to stderr: stdout is the JSON only.
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        logging.disable(logging.CRITICAL)
        version, bag = load(folder)
        report = {
            "airflow_version": version,
            "import_errors": {
                os.path.basename(path): str(error)
                for path, error in sorted(bag.import_errors.items())
            },
            "dags": {dag_id: describe_dag(dag) for dag_id, dag in sorted(bag.dags.items())},
        }
        text = json.dumps(report, indent=1, sort_keys=True, default=repr)
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(stdout)
        shutil.rmtree(home, ignore_errors=True)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
