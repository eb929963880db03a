"""Metaflow Parameters → typed Airflow params, and how the start step receives them."""

from __future__ import annotations

import json
import math
import re

from ..errors import CompileError
from ..model import JsonObject, ParamSpec
from .context import FlowContext

_VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
# How the start step's `init` reads each Metaflow type (what an event's payload is checked
# and converted to: the DAG's event_param_text).
_KINDS = {bool: "bool", int: "int", float: "float", str: "str"}


def analyze_params(ctx: FlowContext) -> tuple[ParamSpec, ...]:
    """The flow's parameters in declaration order, each with a default Airflow can use."""
    from metaflow.parameters import deploy_time_eval

    specs: list[ParamSpec] = []
    seen: set[str] = set()
    env_vars: dict[str, str] = {}
    location = ctx.flow_location()
    for param in _in_declaration_order(ctx.flow):
        if getattr(param, "IS_CONFIG_PARAMETER", False):
            continue  # a Config is resolved now and reaches every task (runtime.config_refs)
        name = param.name
        if not _VALID_NAME.fullmatch(name):
            raise CompileError(
                f"parameter name {name!r} cannot be an Airflow param",
                hint="use letters, digits, '_' and '-' only, starting with a letter",
                location=location,
            )
        if name.lower() in seen:
            raise CompileError(
                f"parameter {name!r} is specified twice (names are case-insensitive)",
                hint="rename one of the two parameters",
                location=location,
            )
        seen.add(name.lower())
        env_var = "METAFLOW_INIT_" + name.upper().replace("-", "_")
        if env_var in env_vars:
            raise CompileError(
                f"parameters {env_vars[env_var]!r} and {name!r} would share the environment "
                f"variable {env_var}, so the value of one would never reach the flow",
                hint="rename one of the two parameters (Metaflow reads '-' as '_' and ignores "
                "case)",
                location=location,
            )
        env_vars[env_var] = name
        if "default" not in param.kwargs:
            raise CompileError(
                f"parameter {name!r} has no default value; Airflow needs one for scheduled " "runs",
                hint=f"give it a default: Parameter({name!r}, default=...)",
                location=location,
            )
        _reject_files(param, location)
        try:
            default = deploy_time_eval(param.kwargs.get("default"))
        except Exception as exc:  # a deploy-time default function of the user's failed
            raise CompileError(
                f"the default of parameter {name!r} could not be computed at deploy time "
                f"({type(exc).__name__}: {exc})",
                hint="fix the function that computes the default, or give a plain default",
                location=location,
            ) from None
        schema_type, value, kind = _airflow_type(name, param.kwargs.get("type"), default, location)
        help_text = param.kwargs.get("help")
        _reject_nul(name, value, location)
        if help_text and "\0" in str(help_text):
            raise CompileError(
                f"the help text of parameter {name!r} contains a NUL character",
                hint="remove the NUL character from the help text",
                location=location,
            )
        specs.append(
            ParamSpec(
                name=name,
                default=value,
                type=schema_type,
                description=str(help_text) if help_text else None,
                env_var=env_var,
                kind=kind,
            )
        )
    return tuple(specs)


def _reject_nul(name: str, value, location: str) -> None:
    """A NUL character cannot reach the flow: the start step gets the value in its environment."""

    def holds_nul(item) -> bool:
        if isinstance(item, str):
            return "\0" in item
        if isinstance(item, JsonObject):
            return any(holds_nul(k) or holds_nul(v) for k, v in item)
        if isinstance(item, tuple):
            return any(holds_nul(v) for v in item)
        return False

    if holds_nul(value):
        raise CompileError(
            f"the default of parameter {name!r} contains a NUL character, which no process "
            "environment can hold",
            hint="remove the NUL character from the default",
            location=location,
        )


def _reject_files(param, location: str) -> None:
    """IncludeFile parameters upload a file at deploy time: reject them before anything runs."""
    from metaflow.includefile import FilePathClass, IncludeFile

    if isinstance(param, IncludeFile) or isinstance(param.kwargs.get("type"), FilePathClass):
        raise CompileError(
            f"parameter {param.name!r} is an IncludeFile, which Airflow params cannot carry",
            hint="read the file in the start step (from the code package or a datastore path "
            "given by a str parameter) instead of IncludeFile",
            location=location,
        )


def _in_declaration_order(flow) -> list:
    """The flow's parameters in source order (Metaflow lists them sorted by attribute name)."""
    declared = [(var, param) for var, param in flow._get_parameters()]
    position = {}
    for cls in reversed(type(flow).__mro__):
        for name in vars(cls):
            position.setdefault(name, len(position))
    return [param for var, param in sorted(declared, key=lambda vp: position.get(vp[0], 0))]


def _airflow_type(name: str, declared, default, location: str) -> tuple[str, object, str]:
    """The JSON-schema type, the JSON default and the Metaflow kind (ParamSpec.kind) of one
    parameter."""
    from metaflow.parameters import JSONTypeClass

    unsupported = CompileError(
        f"parameter {name!r} has a type Airflow params cannot carry "
        f"({getattr(declared, '__name__', type(declared).__name__)})",
        hint="use int, float, str, bool or metaflow.JSONType",
        location=location,
    )
    if isinstance(declared, JSONTypeClass):
        value = json.loads(default) if isinstance(default, str) else default
        _check_json(name, value, location)
        return _json_schema_type(value), _freeze(value), "json"
    if declared is None:
        declared = type(default) if default is not None else str
    if declared not in _TYPES:
        raise unsupported
    if default is None:
        raise CompileError(
            f"parameter {name!r} has the default None; Airflow needs a real default",
            hint="give it a default of its type",
            location=location,
        )
    if declared is float and isinstance(default, int) and not isinstance(default, bool):
        default = float(default)
    if type(default) is not declared:
        raise CompileError(
            f"parameter {name!r} is declared {declared.__name__} but its default "
            f"{default!r} is a {type(default).__name__}",
            hint="make the default match the type",
            location=location,
        )
    _check_json(name, default, location)
    return _TYPES[declared], default, _KINDS[declared]


def _check_json(name: str, value, location: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CompileError(
            f"the default of parameter {name!r} is not a JSON value ({exc})",
            hint="use a finite number, a string, a boolean, or JSON lists and objects",
            location=location,
        ) from None
    if isinstance(value, float) and not math.isfinite(value):  # pragma: no cover (json above)
        raise CompileError(f"parameter {name!r} default is not finite", hint="", location=location)


def _json_schema_type(value) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string"


def _freeze(value):
    """JSON value → plain data with lists as tuples and objects as ``JsonObject``."""
    if isinstance(value, dict):
        return JsonObject(tuple((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
