"""@trigger_on_finish / @trigger → Airflow Assets (Datasets on Airflow 2).

Every DAG announces its flow's successful finish as the Asset ``metaflow.<flow>.end`` (with
@project: ``metaflow.<project>.<branch>.<flow>.end``), Metaflow's own event name for it on Argo
Workflows; the end step's event carries the finished run in its extra. A flow with
``@trigger_on_finish`` is scheduled on the Assets of the flows it names, a flow with ``@trigger``
on one Asset per event name (several: all of them, as Metaflow means it); with ``@schedule`` too,
on Airflow's "assets or time" timetable. The names follow Metaflow's resolution rules (a bare
flow name takes the deploying flow's @project and branch).
"""

from __future__ import annotations

import re
from typing import Optional

from ..errors import CompileError
from ..model import AssetTrigger, EventParameter, ParamSpec
from .context import FlowContext

# Metaflow's rules for event names and payload fields (those of its Argo Workflows compiler).
_EVENT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_FIELD = re.compile(r"^[A-Za-z0-9_]+$")
_PROJECT_PART = re.compile(r"^[A-Za-z0-9_.-]+$")


def finish_asset(ctx: FlowContext) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The Asset this DAG announces when its run succeeds, and the extra's fixed part."""
    from metaflow import current

    project, branch = current.get("project_name"), current.get("branch_name")
    name = _finish_name(project, branch, ctx.flow_name)
    extra = [("flow_name", ctx.flow_name)]
    if project:
        extra += [("project_name", str(project)), ("branch_name", str(branch))]
    return name, tuple(extra)


def analyze_triggers(
    ctx: FlowContext, params: tuple[ParamSpec, ...], schedule: Optional[str]
) -> tuple[tuple[AssetTrigger, ...], tuple[EventParameter, ...]]:
    """The Assets that start this DAG, and the parameters their events' extras set."""
    on_finish = ctx.flow_decorators("trigger_on_finish")
    on_event = ctx.flow_decorators("trigger")
    location = ctx.flow_location()
    if on_finish and on_event:
        raise CompileError(
            "@trigger and @trigger_on_finish cannot be combined",
            hint="use one of the two (as on Argo Workflows); an upstream flow's finish is "
            "itself an event: @trigger(event='metaflow.UpstreamFlow.end')",
            location=location,
        )
    if not (on_finish or on_event):
        return (), ()
    if schedule == "@once":
        raise CompileError(
            "@schedule with @once cannot be combined with an event trigger",
            hint="use a cron schedule (or daily/weekly/hourly) beside @trigger, or no @schedule",
            location=location,
        )
    if on_finish:
        return _on_finish(ctx, on_finish[0], location), ()
    return _on_events(ctx, on_event[0], params, location)


def _finish_name(project: Optional[str], branch: Optional[str], flow: str) -> str:
    return "metaflow." + ".".join(str(v) for v in (project, branch, flow) if v) + ".end"


def _evaluated(deco, decorator: str, location: str) -> list:
    try:
        deco.format_deploytime_value()
    except Exception as exc:  # a deploy-time function of the user's, or Metaflow's check
        raise CompileError(
            f"@{decorator} could not be evaluated at deploy time ({type(exc).__name__}: {exc})",
            hint=f"fix the value given to @{decorator}",
            location=location,
        ) from None
    return list(deco.triggers)


def _on_finish(ctx: FlowContext, deco, location: str) -> tuple[AssetTrigger, ...]:
    from metaflow import current

    found: dict[str, AssetTrigger] = {}
    for trigger in _evaluated(deco, "trigger_on_finish", location):
        flow = str(trigger.get("flow") or "")
        if not flow.isidentifier():
            raise CompileError(
                f"@trigger_on_finish names the flow {trigger.get('fq_name')!r}, which is not a "
                "flow name",
                hint="name the upstream flow by its class name ('UpstreamFlow'), as "
                "'project.branch.UpstreamFlow', or as {'name': 'UpstreamFlow', 'project': ..., "
                "'project_branch': ...}",
                location=location,
            )
        project = trigger.get("project") or current.get("project_name")
        branch = trigger.get("branch") or current.get("branch_name")
        if bool(project) != bool(branch):
            raise CompileError(
                f"@trigger_on_finish names the flow {flow!r} with a project but no branch (or "
                "a branch but no project)",
                hint="give both 'project' and 'project_branch', or put @project on this flow",
                location=location,
            )
        for part in (project, branch):
            if part and not _PROJECT_PART.fullmatch(str(part)):
                raise CompileError(
                    f"@trigger_on_finish names the project or branch {part!r} of flow {flow!r}, "
                    "which no @project can have",
                    hint="use letters, digits, '_', '-' and '.' (a branch such as 'prod' or "
                    "'user.alice')",
                    location=location,
                )
        name = _finish_name(project, branch, flow)
        found.setdefault(name, AssetTrigger(name=name, kind="run"))
    return tuple(found.values())


def _check_written_mappings(ctx: FlowContext, location: str) -> None:
    """Reject a ``parameters=`` that is neither a mapping nor a list, as written in the flow's
    source: Metaflow's decorator drops such a value before mfairflow sees it (the event would
    then map every parameter by name instead)."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(ctx.flow.__class__)))
    except (OSError, TypeError, SyntaxError):
        return  # no source to read (a generated class): Metaflow's own checks only
    calls = [
        deco
        for deco in getattr(tree.body[0], "decorator_list", [])
        if isinstance(deco, ast.Call)
        and getattr(deco.func, "id", getattr(deco.func, "attr", None)) == "trigger"
    ]
    for keyword in (keyword for call in calls for keyword in call.keywords):
        events = keyword.value.elts if isinstance(keyword.value, ast.List) else [keyword.value]
        for event in (e for e in events if isinstance(e, ast.Dict)):
            for key, value in zip(event.keys, event.values):
                written = isinstance(key, ast.Constant) and key.value == "parameters"
                if written and isinstance(value, (ast.Constant, ast.Set, ast.JoinedStr)):
                    raise CompileError(
                        f"@trigger's parameters of an event are {ast.unparse(value)}, not a "
                        "mapping or a list",
                        hint="write parameters={'flow_param': 'payload_field'} or a list of "
                        "names and (param, field) pairs",
                        location=location,
                    )


def _on_events(
    ctx: FlowContext, deco, params: tuple[ParamSpec, ...], location: str
) -> tuple[tuple[AssetTrigger, ...], tuple[EventParameter, ...]]:
    by_lower = {param.name.lower(): param for param in params}
    _check_written_mappings(ctx, location)
    events = _evaluated(deco, "trigger", location)
    triggers: list[AssetTrigger] = []
    mapped: list[EventParameter] = []
    for event in events:
        name = event.get("name")
        if not isinstance(name, str) or not _EVENT_NAME.fullmatch(name):
            raise CompileError(
                f"@trigger names the event {name!r}, which cannot be an event name",
                hint="use letters, digits, '_', '-' and '.' (e.g. 'data.updated')",
                location=location,
            )
        triggers.append(AssetTrigger(name=name, kind="event"))
        parameters = event.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise CompileError(
                f"@trigger's parameters of event {name!r} are not a mapping",
                hint="write parameters={'flow_param': 'payload_field'} or a list of names and "
                "(param, field) pairs",
                location=location,
            )
        for param_name, field in parameters.items():
            param = by_lower.get(str(param_name).lower())
            if param is None:
                raise CompileError(
                    f"@trigger maps the payload of event {name!r} to the parameter "
                    f"{param_name!r}, which the flow does not have",
                    hint="map to one of the flow's parameters: "
                    + (", ".join(p.name for p in params) or "(it has none)"),
                    location=location,
                )
            if not isinstance(field, str) or not _FIELD.fullmatch(field):
                raise CompileError(
                    f"@trigger maps the payload field {field!r} of event {name!r}, which "
                    "cannot be a payload field",
                    hint="use letters, digits and '_' for payload fields",
                    location=location,
                )
            if any(m.param == param.name for m in mapped):
                raise CompileError(
                    f"@trigger maps the parameter {param.name!r} twice",
                    hint="map each parameter from one event's payload only",
                    location=location,
                )
            mapped.append(
                EventParameter(param=param.name, event=name, field=field, kind=param.kind)
            )
    # As on Argo Workflows: one event without a mapping sets every parameter of the same name.
    if len(events) == 1 and not mapped:
        mapped = [
            EventParameter(param=p.name, event=triggers[0].name, field=p.name, kind=p.kind)
            for p in params
        ]
    return tuple(triggers), tuple(mapped)
