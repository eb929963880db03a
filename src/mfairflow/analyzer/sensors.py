"""@airflow_s3_key_sensor / @airflow_external_task_sensor → sensors in front of the start step."""

from __future__ import annotations

import datetime
import re

from ..errors import CompileError
from ..escaping import for_field, python_identifier, unique_name
from ..model import SensorSpec
from .context import FlowContext
from .limits import MAX_SECONDS, duration_seconds

_TASK_ID = re.compile(r"^[\w.-]{1,250}$", re.ASCII)
_STATES = (
    "queued",
    "running",
    "success",
    "shutdown",
    "failed",
    "up_for_retry",
    "up_for_reschedule",
    "upstream_failed",
    "skipped",
)
# (decorator name, sensor kind, task id stem, operator arguments in output order)
_KINDS = (
    (
        "airflow_s3_key_sensor",
        "s3_key",
        "s3_key_sensor",
        ("bucket_key", "bucket_name", "wildcard_match", "aws_conn_id", "verify"),
    ),
    (
        "airflow_external_task_sensor",
        "external_task",
        "external_task_sensor",
        (
            "external_dag_id",
            "external_task_ids",
            "allowed_states",
            "failed_states",
            "check_existence",
        ),
    ),
)
_COMMON = ("mode", "timeout", "poke_interval", "exponential_backoff", "soft_fail", "pool")
# The operator class of each sensor kind (its template_fields say what Airflow renders).
_OPERATORS = {"s3_key": "S3KeySensor", "external_task": "ExternalTaskSensor"}
# The kind of value each argument takes: text, a list of texts, a boolean, or text or a boolean.
_ARG_KINDS = {
    "bucket_key": "str_or_list",
    "bucket_name": "str",
    "wildcard_match": "bool",
    "aws_conn_id": "str",
    "verify": "str_or_bool",
    "external_dag_id": "str",
    "external_task_ids": "list",
    "allowed_states": "list",
    "failed_states": "list",
    "check_existence": "bool",
    "exponential_backoff": "bool",
    "soft_fail": "bool",
    "pool": "str",
    "description": "str",
    "name": "str",
}
_KIND_TEXT = {
    "str": "a string",
    "list": "a string or a list of strings",
    "str_or_list": "a string or a list of strings",
    "bool": "True or False",
    "str_or_bool": "a string or True/False",
}


def analyze_sensors(
    ctx: FlowContext, taken_task_ids: set[str], taken_vars: set[str]
) -> tuple[SensorSpec, ...]:
    """Every sensor decorator of the flow, in declaration order per kind."""
    sensors: list[SensorSpec] = []
    location = ctx.flow_location()
    for deco_name, kind, stem, own_args in _KINDS:
        # Python applies stacked decorators bottom-up; list them in source order.
        for deco in reversed(ctx.flow_decorators(deco_name)):
            attrs = dict(deco.attributes)
            user_set = getattr(deco, "_user_defined_attributes", set())
            if "mode" not in user_set:
                attrs["mode"] = "poke"  # the guide's default
            _validate(kind, deco_name, attrs, location)
            task_id = _task_id(attrs.get("name"), stem, taken_task_ids, deco_name, location)
            args = []
            for key in own_args + _COMMON:
                value = attrs.get(key)
                if value is None:
                    continue
                args.append((key, _plain(_OPERATORS[kind], key, value)))
            if attrs.get("description"):
                args.append(("doc", str(attrs["description"])))
            delta = attrs.get("execution_delta")
            sensors.append(
                SensorSpec(
                    kind=kind,
                    task_id=task_id,
                    var=python_identifier(task_id, taken_vars),
                    args=tuple(args),
                    execution_delta_s=_seconds(delta) if delta is not None else None,
                )
            )
    return tuple(sensors)


def _seconds(delta: datetime.timedelta):
    seconds = delta.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def _plain(operator: str, key: str, value):
    """The argument as the sensor must be given it: strings in templated fields escaped."""
    if isinstance(value, (list, tuple)):
        return tuple(for_field(operator, key, str(v)) for v in value)
    if isinstance(value, str):
        return for_field(operator, key, value)
    return value


def _task_id(name, stem: str, taken: set[str], deco_name: str, location: str) -> str:
    if name is not None:
        name = str(name)
        if not _TASK_ID.fullmatch(name):
            raise CompileError(
                f"@{deco_name}(name={name!r}) is not a valid Airflow task id",
                hint="use letters, digits, '_', '-' and '.' only (at most 250 characters)",
                location=location,
            )
        if name in taken:
            raise CompileError(
                f"@{deco_name}(name={name!r}) clashes with another task of the DAG",
                hint="give the sensor a name that no step or other sensor uses",
                location=location,
            )
        taken.add(name)
        return name
    return unique_name(stem, taken)


def _validate(kind: str, deco_name: str, attrs: dict, location: str) -> None:
    def fail(message: str, hint: str) -> CompileError:
        return CompileError(f"@{deco_name}: {message}", hint=hint, location=location)

    if kind == "s3_key" and not attrs.get("bucket_key"):
        raise fail("bucket_key is required", "pass bucket_key='s3://bucket/path/key'")
    if kind == "external_task":
        if not attrs.get("external_dag_id"):
            raise fail("external_dag_id is required", "pass external_dag_id='upstream_dag'")
        for key in ("allowed_states", "failed_states"):
            states = attrs.get(key)
            if isinstance(states, str):
                states = [states]
                attrs[key] = states
            for state in states or ():
                if state not in _STATES:
                    raise fail(
                        f"{key} has the unknown state {state!r}",
                        "use Airflow task states: " + ", ".join(_STATES),
                    )
        ids = attrs.get("external_task_ids")
        if isinstance(ids, str):
            attrs["external_task_ids"] = [ids]
        delta = attrs.get("execution_delta")
        if delta is not None and not isinstance(delta, datetime.timedelta):
            raise fail(
                f"execution_delta must be a datetime.timedelta, not {type(delta).__name__}",
                "pass execution_delta=timedelta(hours=1)",
            )
    if attrs.get("mode") not in ("poke", "reschedule"):
        raise fail(
            f"mode {attrs.get('mode')!r} is not 'poke' or 'reschedule'", "use one of the two"
        )
    for key in ("timeout", "poke_interval"):
        value = attrs.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"{key} must be a number of seconds, not {value!r}", f"pass {key}=60")
        duration_seconds(
            value, f"@{deco_name}({key}=...)", hint=f"pass {key}=60", location=location
        )
    delta = attrs.get("execution_delta")
    if delta is not None and abs(delta.total_seconds()) > MAX_SECONDS:
        raise fail(
            f"execution_delta {delta} is longer than {MAX_SECONDS} seconds (about 68 years)",
            "pass a shorter execution_delta",
        )
    for key, kind in _ARG_KINDS.items():
        value = attrs.get(key)
        if value is not None and not _has_kind(value, kind):
            raise fail(
                f"{key} must be {_KIND_TEXT[kind]}, not {type(value).__name__}",
                f"pass {key} as {_KIND_TEXT[kind]}",
            )
        if isinstance(value, str) and "\0" in value:
            raise fail(f"{key} contains a NUL character", "remove the NUL character from the value")


def _has_kind(value, kind: str) -> bool:
    """Whether a sensor argument is of the kind Airflow's sensor takes (see _ARG_KINDS)."""
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "str_or_bool":
        return isinstance(value, (str, bool))
    if isinstance(value, str):
        return True
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
