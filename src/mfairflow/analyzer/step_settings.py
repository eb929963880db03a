"""Retries, retry delay, timeout and deploy-time decorators of one step."""

from __future__ import annotations

import os
from typing import Optional

from .limits import duration_seconds, number


def _where(node) -> dict:
    """The step and ``file:line`` of its definition, for errors."""
    source = os.path.basename(getattr(node, "source_file", None) or "")
    line = getattr(node, "func_lineno", None)
    location = f"{source}:{line}" if source and line else (source or None)
    return {"step": node.name, "location": location}


def retries(node) -> tuple[int, int]:
    """(user code retries, error retries) that the step's decorators ask for."""
    user, error = 0, 0
    for deco in node.decorators:
        u, e = deco.step_task_retry_count()
        user, error = max(user, u), max(error, e)
    return user, error


def retry_delay(node) -> Optional[int]:
    """Seconds between retries from @retry(minutes_between_retries), or None."""
    for deco in node.decorators:
        if deco.name == "retry":
            value = deco.attributes.get("minutes_between_retries") or 0
            minutes = number(value)
            seconds = duration_seconds(
                value if minutes is None else minutes * 60,
                f"@retry(minutes_between_retries={value!r}) in seconds",
                hint="pass minutes_between_retries as a number of minutes, e.g. 2",
                **_where(node),
            )
            return int(seconds)
    return None


def timeout_seconds(node) -> Optional[int]:
    """The step's @timeout in seconds, or None without @timeout."""
    from metaflow.plugins.timeout_decorator import get_run_time_limit_for_task

    if not any(deco.name == "timeout" for deco in node.decorators):
        return None
    seconds = get_run_time_limit_for_task(node.decorators)
    return int(
        duration_seconds(
            seconds,
            "@timeout",
            hint="use a shorter @timeout(seconds=..., minutes=..., hours=...), or remove it",
            positive=True,
            **_where(node),
        )
    )


def deploy_time_decospecs(node) -> tuple[str, ...]:
    """Decorators added at deploy time (``--with``) that the pods must add too."""
    return tuple(
        deco.make_decorator_spec()
        for deco in node.decorators
        if not deco.statically_defined and deco.inserted_by is None
    )
