"""`python flow.py airflow create DAG_FILE`: options, messages and exit codes.

This module is loaded by Metaflow through mfairflow's extension (it replaces Metaflow's own
`airflow` command group); it uses Metaflow's vendored click like every Metaflow command.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from metaflow._vendor import click

from .errors import CompileError
from .options import TARGETS, CreateOptions

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
    help="Do not write: exit 0 if FILE is what would be generated now, else print a diff and "
    "exit 1 (renders offline).",
)
@click.option(
    "--emit-model",
    default=None,
    help="Also write the intermediate model (what the templates see) to this YAML file.",
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


def compile_to_file(obj, options: CreateOptions) -> tuple[str, str]:
    """Analyze, render and write the DAG file (or compare it, with --check).

    Returns the DAG id and, for --check, the unified diff from the file on disk to the
    freshly generated source ("" when they are equal).
    """
    from metaflow.util import get_username

    from .analyzer import Deployment, FlowContext, analyze_flow, with_deployment
    from .deploy import resolve_dag_name, resolve_token, start_code_package
    from .model_dump import write_model
    from .org_config import find_config, load_config
    from .render import dag_id_clash, load_dag_template, unified_diff, write_atomically

    _check_dag_path(options.dag_file)
    ctx = FlowContext(
        flow=obj.flow,
        graph=obj.graph,
        flow_datastore=obj.flow_datastore,
        metadata=obj.metadata,
        environment=obj.environment,
        flow_file=sys.argv[0],
        username=get_username(),
    )
    org = load_config(find_config(ctx.flow_file, options.config_file))
    template_dirs = [d for d in (options.template_dir, org.template_dir) if d]
    dag_id, prefix, is_project = resolve_dag_name(ctx.flow_name, options.name)
    clash = dag_id_clash(options.dag_file, dag_id)
    if clash:
        raise CompileError(
            f"the DAG id {dag_id!r} is already used by {clash} in the same folder; Airflow would "
            "keep only one of the two DAGs",
            hint="give this flow another DAG name with --name (or another @project branch), or "
            "delete the other file if it is an older DAG of this flow",
        )
    # Analyze (and so validate) before anything is written to the datastore.
    spec = analyze_flow(ctx, options, dag_id, Deployment("not-deployed-yet", None, None), org)
    package = None
    if options.target != "local":  # Metaflow builds it in a thread from here on
        package = start_code_package(obj, ctx, options.dag_file)
    template = load_dag_template(template_dirs)
    token = resolve_token(ctx, options, dag_id, prefix, is_project, obj.echo)
    source, deployment = _render_deployed(ctx, options, spec, org, template, token, package)
    spec = with_deployment(spec, ctx, options, deployment, org)
    if options.workflow_timeout is not None and spec.schedule is None:
        obj.echo(
            "Note: --workflow-timeout is enforced only for scheduled DAGs; this flow has no "
            "@schedule, so the DAG has no dagrun_timeout."
        )
    if options.emit_model:
        write_model(spec, options.emit_model)
    if options.check:
        return dag_id, unified_diff(options.dag_file, source)
    write_atomically(options.dag_file, source)
    obj.echo(f"The namespace of this production flow is production:{deployment.production_token}")
    return dag_id, ""


def _render_deployed(ctx, options: CreateOptions, spec, org, template, token: str, package):
    """The DAG source, and the deployment (token, code package) it names.

    While Metaflow still builds the code package in its thread, the DAG is rendered and
    formatted with a provisional content address of the same length, which the real one then
    replaces (render.with_code_address): the same file, without waiting for the package first.
    ``package`` is None for the local target (the flow runs from its own folder).
    """
    from .analyzer import Deployment, with_deployment
    from .deploy import PROVISIONAL_SHA, code_package_address, content_address
    from .render import render_dag, with_code_address

    def render(deployment: Deployment) -> str:
        deployed = with_deployment(spec, ctx, options, deployment, org)
        return render_dag(deployed, template=template)

    if package is None:
        deployment = Deployment(token, None, None)
        return render(deployment), deployment
    provisional = content_address(ctx, PROVISIONAL_SHA)
    early = None
    if PROVISIONAL_SHA not in repr(spec):  # a flow that holds it itself waits for the package
        early = render(Deployment(token, *provisional))
    deployment = Deployment(token, *code_package_address(ctx, package, options.offline))
    if early is not None:
        real = (deployment.code_package_url, deployment.code_package_sha)
        source = with_code_address(early, provisional, real)
        if source is not None:
            return source, deployment
    return render(deployment), deployment


def _check_dag_path(path: str) -> None:
    if os.path.abspath(sys.argv[0]) == os.path.abspath(path):
        raise CompileError(
            "the DAG file name is the same as the flow file name",
            hint="pass another file name, e.g. my_flow_dag.py",
        )
    if not str(path).endswith(".py"):
        raise CompileError(
            f"the DAG file {path!r} does not end in .py; Airflow only loads .py files",
            hint="name the DAG file like my_dag.py",
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CompileError(
            f"the folder {folder!r} of the DAG file does not exist",
            hint="create the folder first, or write the DAG elsewhere",
        )
