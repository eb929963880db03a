"""@schedule → the DAG's schedule."""

from __future__ import annotations

import re
from typing import Optional

from ..errors import CompileError
from .context import FlowContext

_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?#LW-]+$")


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
        valid = cron in _PRESETS or (
            len(fields) == 5 and all(_CRON_FIELD.match(part) for part in fields)
        )
        if not valid:
            raise CompileError(
                f"@schedule(cron={cron!r}) is not a five-field cron expression",
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
