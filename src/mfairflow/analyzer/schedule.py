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
# croniter (Airflow's cron parser on 2.x and 3.x) splits fields on ASCII whitespace only, while
# str.split() also splits on Unicode spaces such as the no-break space.
_ASCII_SPACE = " \t\n\r\f\v"
_ITEM = re.compile(r"^(?P<range>\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/(?P<step>[0-9]+))?$")


def analyze_schedule(ctx: FlowContext) -> Optional[str]:
    """A cron expression or preset, or None for a DAG that runs only when triggered."""
    decos = ctx.flow_decorators("schedule")
    if not decos:
        return None
    attrs = decos[0].attributes
    location = ctx.flow_location()
    cron = attrs.get("cron")
    if cron:
        cron = str(cron).strip(_ASCII_SPACE)
        fields = re.split(f"[{_ASCII_SPACE}]+", cron)
        problem = None
        if cron not in _PRESETS:
            problem = _cron_problem(fields)
        if not problem and not cron.isascii():
            problem = "it holds characters other than ASCII letters, digits, spaces and */,-"
        if not problem and cron not in _PRESETS:
            problem = _never_due(fields)
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


# Names a host's tz database answers that are not zones of IANA's database, or that mean
# something else on each host: "localtime" (the host's own zone setting), "posixrules" (the
# host's default rules for POSIX TZ strings), "Factory" (the database's "local time unknown",
# -00), and copies of the database under another root ("posix/...", "right/...": the latter
# counts leap seconds, which Airflow's clocks do not).
_HOST_NAMES = ("localtime", "posixrules", "Factory")
_HOST_ROOTS = ("posix/", "right/")


def analyze_timezone(ctx: FlowContext) -> Optional[str]:
    """The IANA time zone `@schedule(timezone=...)` names (the DAG's cron is read in it, with its
    daylight-saving changes), or None for UTC."""
    decos = ctx.flow_decorators("schedule")
    zone = decos[0].attributes.get("timezone") if decos else None
    if zone is None or zone == "":
        return None
    if isinstance(zone, str) and (zone in _HOST_NAMES or zone.startswith(_HOST_ROOTS)):
        raise CompileError(
            f"@schedule(timezone={zone!r}) is not an IANA time zone name: each Airflow host "
            "reads it from its own tz files",
            hint="name the zone the schedule means, such as 'Europe/Berlin', "
            "'America/New_York' or 'UTC'",
            location=ctx.flow_location(),
        )
    if not isinstance(zone, str) or not _is_zone(zone):
        raise CompileError(
            f"@schedule(timezone={zone!r}) is not a time zone name Airflow knows",
            hint="use an IANA time zone name such as 'Europe/Berlin', 'America/New_York' or 'UTC'",
            location=ctx.flow_location(),
        )
    return zone


def _is_zone(name: str) -> bool:
    """Whether ``name`` is a zone (or link) of IANA's tz database: the list the ``tzdata``
    package carries (the same on every host), else the zones this Python's tz files hold."""
    import zoneinfo

    try:
        from importlib.resources import files

        names = set(files("tzdata").joinpath("zones").read_text().split())
    except (ImportError, OSError):
        names = zoneinfo.available_timezones()
    if names:
        return name in names or name == "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _values(text: str, low: int, high: int, names) -> set[int]:
    """The values one checked cron field selects."""
    chosen: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item)
        step = int(match.group("step") or 1)
        if match.group("range") == "*":
            first, last = low, high
        else:
            bounds = [
                (
                    names.index(v.upper()) + (low if names is _MONTHS else 0)
                    if v.upper() in names
                    else int(v)
                )
                for v in match.group("range").split("-")
            ]
            first, last = bounds[0], bounds[-1]
            if match.group("step") is not None and len(bounds) == 1:
                last = high
        if first <= last:
            chosen.update(range(first, last + 1, step))
        else:  # croniter reads a reversed range as wrapping around
            chosen.update(v for v in range(low, high + 1) if v >= first or v <= last)
    return chosen


def _never_due(fields: list[str]) -> str | None:
    """Why a valid expression never comes due (croniter then fails when Airflow schedules it:
    "failed to find next date"), e.g. the 31st of February, or None."""
    if fields[2] == "*" or fields[4] != "*":  # a weekday also lets the DAG run
        return None
    days = _values(fields[2], 1, 31, ())
    months = _values(fields[3], 1, 12, _MONTHS)
    if any(day <= _DAYS_IN_MONTH[month - 1] for day in days for month in months):
        return None
    return "no month it names has that day"


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
