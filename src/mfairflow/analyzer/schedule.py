"""@schedule → the DAG's schedule."""

from __future__ import annotations

import re
from typing import Optional

from ..errors import CompileError
from .context import FlowContext

_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
_MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
_DAYS = "SUN MON TUE WED THU FRI SAT".split()
# (name, lowest, highest, names) of the five fields, as Airflow's croniter reads them.
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_ITEM = re.compile(r"^(?P<range>\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/(?P<step>[0-9]+))?$")


def analyze_schedule(ctx: FlowContext) -> Optional[str]:
    """A cron expression or preset, or None for a DAG that runs only when triggered."""
    decos = ctx.flow_decorators("schedule")
    if not decos:
        return None
    attrs = decos[0].attributes
    location = ctx.flow_location()
    if attrs.get("timezone"):
        raise CompileError(
            "@schedule(timezone=...) is not supported with Airflow",
            hint="write the cron expression in UTC (or in the Airflow installation's default "
            "timezone) and remove timezone=",
            location=location,
        )
    cron = attrs.get("cron")
    if cron:
        cron = str(cron).strip()
        fields = cron.split()
        problem = None
        if cron not in _PRESETS:
            problem = _cron_problem(fields)
        if problem:
            raise CompileError(
                f"@schedule(cron={cron!r}) is not a valid five-field cron expression ({problem})",
                hint="use 'minute hour day-of-month month day-of-week', e.g. '0 10 * * *', or "
                "daily=True / weekly=True / hourly=True",
                location=location,
            )
        return cron
    if attrs.get("weekly"):
        return "@weekly"
    if attrs.get("hourly"):
        return "@hourly"
    if attrs.get("daily"):
        return "@daily"
    return None


def _cron_problem(fields: list[str]) -> str | None:
    """What is wrong with a five-field cron expression, or None when Airflow accepts it."""
    if len(fields) != 5:
        return f"{len(fields)} fields instead of 5"
    for text, (name, low, high, names) in zip(fields, _FIELDS):
        for item in text.split(","):
            match = _ITEM.match(item)
            if not match:
                return f"{name} {item!r} is not a number, range or */step"
            if match.group("step") is not None and int(match.group("step")) == 0:
                return f"{name} {item!r} has a step of 0"
            if match.group("range") == "*":
                continue
            for value in match.group("range").split("-"):
                if value.upper() in names:
                    continue
                if not value.isdigit() or not low <= int(value) <= high:
                    return f"{name} {value!r} is outside {low}-{high}"
    return None
