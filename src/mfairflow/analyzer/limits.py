"""The ranges of the numbers a DAG file holds, so that Airflow can build what the file says.

A number that Python accepts can still break the DAG: ``timedelta(seconds=10**15)`` raises
OverflowError when Airflow imports the file, an infinite sensor timeout does too, and a retry
delay that fits a timedelta can still overflow the date Airflow adds it to. Every duration and
count the analyzer writes is checked here against one bound each.
"""

from __future__ import annotations

import math
from typing import Optional

from ..errors import CompileError

MAX_SECONDS = 2**31 - 1
"""The longest duration (about 68 years): what ``signal.alarm``, which Metaflow's @timeout uses,
accepts; far inside a timedelta, and inside the dates Airflow computes from a run's start."""
MAX_COUNT = 2**31 - 1
"""The largest count (max_active_tasks...): Airflow stores them in 32-bit integer columns."""


def number(value) -> Optional[float]:
    """``value`` as a float when it is a real number (or numeric text), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) < 2**1000 else math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def duration_seconds(
    value,
    what: str,
    *,
    hint: str,
    positive: bool = False,
    step: Optional[str] = None,
    location: Optional[str] = None,
) -> float:
    """A finite duration in seconds between 0 (or 1 with ``positive``) and MAX_SECONDS."""
    seconds = number(value)
    low = 1 if positive else 0
    if seconds is None or not math.isfinite(seconds) or not low <= seconds <= MAX_SECONDS:
        raise CompileError(
            f"{what} must be a number of seconds from {low} to {MAX_SECONDS} (about 68 years), "
            f"not {value!r}",
            hint=hint,
            step=step,
            location=location,
        )
    return seconds
