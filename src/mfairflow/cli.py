"""`python flow.py airflow create DAG_FILE`: options, messages and exit codes.

This module is loaded by Metaflow through mfairflow's extension (it replaces Metaflow's own
`airflow` command group); it uses Metaflow's vendored click like every Metaflow command.
"""

from __future__ import annotations

import sys
from typing import Optional

from metaflow._vendor import click

from .errors import CompileError
from .options import TARGETS, CreateOptions
from .pipeline import compile_to_file

EXIT_USER_ERROR = 2
EXIT_STALE = 1


@click.group()
def cli() -> None:
    """Entry group that Metaflow merges into the flow's CLI."""


@cli.group(help="Commands related to Airflow (mfairflow).")
@click.option(
    "--name",
    default=None,
    type=str,
    help="Airflow DAG name. The flow name is used instead if this option is not specified.",
)
@click.pass_obj
def airflow(obj, name: Optional[str] = None) -> None:
    """The `airflow` command group; `--name` may be given here as Metaflow allows."""
    from .lint import linear_loop_check

    with linear_loop_check():
        obj.check(obj.graph, obj.flow, obj.environment, pylint=obj.pylint)
    obj.mfairflow_group_name = name


@airflow.command(help="Compile a new version of this flow to an Airflow DAG file.")
@click.argument("file", required=True)
@click.option("--name", default=None, type=str, help="Custom DAG name (default: flow name).")
@click.option(
    "--authorize",
    default=None,
    help="Authorize using this production token (needed once to take over a deployment).",
)
@click.option(
    "--generate-new-token",
    is_flag=True,
    help="Generate a new production token; the flow moves to a new namespace.",
)
@click.option(
    "--new-token",
    "new_token",
    default=None,
    help="Use the given production token; the flow moves to the given namespace.",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    default=None,
    help="Tag for the DAG and for all runs it creates (repeatable).",
)
@click.option(
    "--is-paused-upon-creation",
    default=False,
    is_flag=True,
    help="Create the DAG in the paused state.",
)
@click.option(
    "--namespace",
    "user_namespace",
    default=None,
    help="Change the namespace of the runs from the default to the given tag.",
)
@click.option(
    "--max-workers",
    default=100,
    show_default=True,
    type=int,
    help="Maximum number of parallel tasks (max_active_tasks).",
)
@click.option(
    "--workflow-timeout",
    default=None,
    type=int,
    help="Workflow timeout in seconds. Enforced only for scheduled DAGs.",
)
@click.option("--worker-pool", default=None, help="Airflow pool for every task.")
@click.option(
    "--target",
    type=click.Choice(TARGETS),
    default="kubernetes",
    show_default=True,
    help="kubernetes: every step is a KubernetesPodOperator pod; local: every step runs as a "
    "process on the Airflow worker with the local datastore (for testing).",
)
@click.option(
    "--offline",
    is_flag=True,
    default=False,
    help="Render the DAG without contacting the datastore (no upload, no token registration).",
)
@click.option(
    "--config",
    "config_file",
    default=None,
    help="Organization config file (default: mfairflow.yaml beside the flow or above it).",
)
@click.option(
    "--template-dir",
    default=None,
    help="Folder of template overrides, searched before the packaged templates.",
)
@click.option(
    "--check",
    is_flag=True,
    default=False,
    help="Write nothing: exit 0 if FILE is what would be generated now (code package address "
    "included), else print a diff and exit 1 (renders offline).",
)
@click.option(
    "--ignore-code-address",
    is_flag=True,
    default=False,
    help="With --check: compare without the code package's content address.",
)
@click.option(
    "--emit-model",
    default=None,
    help="Also write the intermediate model (what the templates see) to this YAML file "
    "(not with --check).",
)
@click.pass_obj
def create(
    obj,
    file: str,
    name: Optional[str],
    authorize: Optional[str],
    generate_new_token: bool,
    new_token: Optional[str],
    tags: tuple,
    is_paused_upon_creation: bool,
    user_namespace: Optional[str],
    max_workers: int,
    workflow_timeout: Optional[int],
    worker_pool: Optional[str],
    target: str,
    offline: bool,
    config_file: Optional[str],
    template_dir: Optional[str],
    check: bool,
    ignore_code_address: bool,
    emit_model: Optional[str],
) -> None:
    """Compile the flow; on a user error print `error:`/`hint:` and exit 2, file untouched."""
    options = CreateOptions(
        dag_file=file,
        name=name or getattr(obj, "mfairflow_group_name", None),
        max_workers=max_workers,
        workflow_timeout=workflow_timeout,
        worker_pool=worker_pool,
        tags=tuple(tags or ()),
        is_paused_upon_creation=is_paused_upon_creation,
        namespace=user_namespace,
        generate_new_token=generate_new_token,
        new_token=new_token,
        authorize=authorize,
        offline=offline or check,
        target=target,
        config_file=config_file,
        template_dir=template_dir,
        check=check,
        emit_model=emit_model,
        ignore_code_address=ignore_code_address,
    )
    try:
        dag_id, diff = compile_to_file(obj, options)
    except CompileError as exc:
        click.secho(exc.render(), err=True, fg="red")
        sys.exit(EXIT_USER_ERROR)
    if options.check:
        if diff:
            click.echo(diff, nl=False)
            click.secho(f"{file} is not what `airflow create` generates now.", err=True)
            sys.exit(EXIT_STALE)
        obj.echo(f"{file} is up to date.")
        return
    obj.echo(
        f"DAG *{dag_id}* for flow *{obj.flow.name}* written to *{file}* "
        f"(target {options.target}).",
        bold=True,
    )
