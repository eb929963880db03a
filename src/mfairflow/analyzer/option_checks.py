"""Checks of the command-line options, the organization config and environment names."""

from __future__ import annotations

import re

from ..errors import CompileError
from ..options import CreateOptions
from ..org_config import OrgConfig
from .context import FlowContext
from .limits import MAX_COUNT, MAX_SECONDS

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_TAG_MAX = 100
TASK_ID_MAX = 250
"""The longest task id Airflow accepts (its validate_key): a longer one fails the DAG's import."""


def check_options(options: CreateOptions) -> None:
    """Reject command-line options Airflow cannot hold (exit 2 with a hint)."""
    if options.max_workers < 1:
        raise CompileError(
            f"--max-workers {options.max_workers} must be at least 1",
            hint="pass --max-workers 1 or more (default 100)",
        )
    if options.max_workers > MAX_COUNT:
        raise CompileError(
            f"--max-workers {options.max_workers} is more than Airflow can store ({MAX_COUNT})",
            hint="pass a smaller --max-workers (default 100)",
        )
    if options.workflow_timeout is not None and options.workflow_timeout < 1:
        raise CompileError(
            f"--workflow-timeout {options.workflow_timeout} must be a positive number of seconds",
            hint="pass --workflow-timeout 3600, for example",
        )
    if options.workflow_timeout is not None and options.workflow_timeout > MAX_SECONDS:
        raise CompileError(
            f"--workflow-timeout {options.workflow_timeout} is longer than {MAX_SECONDS} seconds "
            "(about 68 years), more than Airflow can add to a run's start",
            hint="pass a shorter --workflow-timeout, or none for no limit",
        )
    for tag in options.tags:
        if not tag or len(tag) > _TAG_MAX:
            raise CompileError(
                (
                    f"--tag {tag[:40]!r}... must be 1 to {_TAG_MAX} characters long"
                    if tag
                    else "--tag cannot be empty"
                ),
                hint=f"Airflow stores DAG tags of at most {_TAG_MAX} characters; shorten it",
            )
    if options.worker_pool is not None and not options.worker_pool.strip():
        raise CompileError("--worker-pool cannot be empty", hint="name an Airflow pool")
    if options.worker_pool is not None and len(options.worker_pool) > 256:
        raise CompileError(
            "--worker-pool is longer than 256 characters",
            hint="Airflow stores pool names of at most 256 characters; use a shorter name",
        )


def check_org(org: OrgConfig) -> None:
    """Reject organization-config env values, tags and retries no pod or Airflow can hold."""
    from metaflow.metaflow_config import MAX_ATTEMPTS

    if org.retries is not None and org.retries > MAX_ATTEMPTS - 2:
        raise CompileError(
            f"retries: {org.retries} in the organization config is more than Metaflow allows "
            f"({MAX_ATTEMPTS - 2}, as for @retry(times=...))",
            hint=f"set retries to at most {MAX_ATTEMPTS - 2}",
            location=org.where("retries"),
        )
    if org.pool is not None and len(org.pool) > 256:
        raise CompileError(
            "pool in the organization config is longer than 256 characters",
            hint="Airflow stores pool names of at most 256 characters; use a shorter name",
            location=org.where("pool"),
        )
    for key, value in org.env:
        if "\0" in value:
            raise CompileError(
                f"env variable {key!r} in the organization config contains a NUL character, "
                "which no process environment can hold",
                hint="remove the NUL character from the value",
                location=org.where("env"),
            )
        if not _ENV_NAME.fullmatch(key):
            raise CompileError(
                f"env variable name {key!r} in the organization config is not valid",
                hint="use letters, digits, '_', '-' and '.', not starting with a digit",
                location=org.where("env"),
            )
    for tag in org.tags:
        if not tag or len(tag) > _TAG_MAX:
            raise CompileError(
                f"tag {tag[:40]!r} in the organization config must be 1 to {_TAG_MAX} "
                "characters long",
                hint="shorten it",
                location=org.where("tags"),
            )


def check_flow_name(ctx: FlowContext) -> None:
    """Reject a flow name that is not a Python identifier (a class ``__name__`` set by hand).

    A flow class's name is an identifier unless the flow overwrites ``__name__``; anything
    else breaks Metaflow's pathspecs (``Flow/run/step/task``) and the shell commands of its own
    pod bootstrap, which embed the name in the code package's address unquoted.
    """
    name = ctx.flow_name
    if not (isinstance(name, str) and name.isidentifier()):
        raise CompileError(
            f"the flow name {name!r} is not a Python identifier",
            hint="name the flow by its class statement (letters, digits and '_'), without "
            "setting __name__",
            location=ctx.flow_location(),
        )


def check_env_names(ctx: FlowContext, step: str) -> None:
    """Reject @environment variables with invalid names or NUL characters."""
    deco = ctx.step_decorator(step, "environment")
    env = (deco.attributes.get("vars") or {}) if deco is not None else {}
    for key, value in env.items():
        if "\0" in str(value):
            raise CompileError(
                f"@environment variable {key!r} contains a NUL character, which no process "
                "environment can hold",
                hint="remove the NUL character from the value",
                step=step,
                location=ctx.step_location(step),
            )
        if not _ENV_NAME.fullmatch(str(key)):
            raise CompileError(
                f"@environment variable name {key!r} is not a valid environment variable name",
                hint="use letters, digits, '_', '-' and '.', not starting with a digit",
                step=step,
                location=ctx.step_location(step),
            )


def check_task_id_lengths(ctx: FlowContext, task_ids: list[tuple[str, str]]) -> None:
    """Reject a step whose Airflow task id (its name, or a task derived from it) is too long.

    ``task_ids`` pairs each task id with the step it comes from.
    """
    for step, task_id in task_ids:
        if len(task_id) > TASK_ID_MAX:
            derived = "" if task_id == step else f" (its task {task_id[:20]!r}...)"
            raise CompileError(
                f"the step name {step[:40]!r}... makes an Airflow task id{derived} longer than "
                f"Airflow's {TASK_ID_MAX} characters",
                hint=f"shorten the step name to at most {TASK_ID_MAX - (len(task_id) - len(step))} "
                "characters",
                step=step,
                location=ctx.step_location(step),
            )
