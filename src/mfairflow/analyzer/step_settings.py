"""Retries, retry delay, timeout and deploy-time decorators of one step."""

from __future__ import annotations

from typing import Optional


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
            return int(float(deco.attributes.get("minutes_between_retries") or 0) * 60)
    return None


def timeout_seconds(node) -> Optional[int]:
    """The step's @timeout in seconds, or None without @timeout."""
    from metaflow.plugins.timeout_decorator import get_run_time_limit_for_task

    if not any(deco.name == "timeout" for deco in node.decorators):
        return None
    return int(get_run_time_limit_for_task(node.decorators))


def deploy_time_decospecs(node) -> tuple[str, ...]:
    """Decorators added at deploy time (``--with``) that the pods must add too."""
    return tuple(
        deco.make_decorator_spec()
        for deco in node.decorators
        if not deco.statically_defined and deco.inserted_by is None
    )
