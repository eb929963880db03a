"""`python flow.py airflow create DAG_FILE`: options, messages and exit codes.

This module is loaded by Metaflow through mfairflow's extension (it replaces Metaflow's own
`airflow` command group); it uses Metaflow's vendored click like every Metaflow command.
"""

from __future__ import annotations

import json
import sys
from typing import Optional

from metaflow import parameters
from metaflow._vendor import click

from .errors import CompileError
from .options import TARGETS, CreateOptions
from .pipeline import compile_to_file, default_dag_file, deploy_written, write_deployer_attributes

EXIT_USER_ERROR = 2
EXIT_STALE = 1
EXIT_DEPLOY_FAILED = 1


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
@click.argument("file", required=False, default=None)
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
@click.option(
    "--deploy-timeout",
    default=300,
    show_default=True,
    type=int,
    help="With METAFLOW_AIRFLOW_REST_API_URL set: seconds to wait until Airflow has parsed the "
    "new DAG file.",
)
@click.option(
    "--deployer-attribute-file",
    default=None,
    hidden=True,
    help="Write the DAG name, flow name and metadata here (Metaflow's Deployer API).",
)
@click.pass_obj
def create(
    obj,
    file: Optional[str],
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
    deploy_timeout: int = 300,
    deployer_attribute_file: Optional[str] = None,
) -> None:
    """Compile the flow; on a user error print `error:`/`hint:` and exit 2, file untouched.

    With METAFLOW_AIRFLOW_REST_API_URL set, also wait until Airflow loaded the file (exit 1
    with Airflow's import error if it did not) and unpause the DAG.
    """
    name = name or getattr(obj, "mfairflow_group_name", None)
    try:
        file = file or default_dag_file(obj.flow.name, name)
    except CompileError as exc:
        click.secho(exc.render(), err=True, fg="red")
        sys.exit(EXIT_USER_ERROR)
    options = CreateOptions(
        dag_file=file,
        name=name,
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
    try:
        deploy_written(obj, dag_id, file, is_paused_upon_creation, deploy_timeout)
    except CompileError as exc:
        click.secho(exc.render(), err=True, fg="red")
        sys.exit(EXIT_DEPLOY_FAILED)
    if deployer_attribute_file:
        write_deployer_attributes(obj, deployer_attribute_file, dag_id, file)


@parameters.add_custom_parameters(deploy_mode=False)
@airflow.command(help="Trigger a run of the deployed DAG, with this flow's Parameters as options.")
@click.option("--name", default=None, type=str, help="DAG name (default: as for create).")
@click.option("--run-id-file", default=None, help="Write the Metaflow run id to this file.")
@click.option(
    "--airflow-run-id", default=None, help="Airflow run id to use (default: a new unique one)."
)
@click.option("--deployer-attribute-file", default=None, hidden=True)
@click.pass_obj
def trigger(
    obj,
    name: Optional[str] = None,
    run_id_file: Optional[str] = None,
    airflow_run_id: Optional[str] = None,
    deployer_attribute_file: Optional[str] = None,
    **kwargs,
) -> None:
    """Post a DAG run with the given parameter values; print the Metaflow run's pathspec."""
    from .live.cli_actions import trigger_flow

    name = name or getattr(obj, "mfairflow_group_name", None)
    try:
        triggered = trigger_flow(obj, name, kwargs, airflow_run_id)
    except CompileError as exc:
        click.secho(exc.render(), err=True, fg="red")
        sys.exit(EXIT_USER_ERROR)
    _posted(obj, triggered, "triggered", run_id_file, deployer_attribute_file)


def _given_only(cmd):
    """The flow's Parameters as options without defaults or requirement: None is "not
    given" (a resume keeps the origin run's value of a parameter it is not given)."""
    for param in cmd.params:
        if param not in getattr(cmd, "original_params", cmd.params):
            param.default, param.required = None, False
    return cmd


@_given_only
@parameters.add_custom_parameters(deploy_mode=False)
@airflow.command(
    help="Resume a run on Airflow: a new DAG run copies the tasks that succeeded in the origin "
    "run (before STEP, if given) and runs the rest; Parameters given apply to what runs again."
)
@click.argument("step-to-rerun", required=False, default=None)
@click.option(
    "--origin-run-id",
    required=True,
    help="The run to resume: its Metaflow run id (airflow-...) or its Airflow run id.",
)
@click.option("--name", default=None, type=str, help="DAG name (default: as for create).")
@click.option("--run-id-file", default=None, help="Write the Metaflow run id to this file.")
@click.option(
    "--airflow-run-id", default=None, help="Airflow run id to use (default: a new unique one)."
)
@click.option("--deployer-attribute-file", default=None, hidden=True)
@click.pass_obj
def resume(
    obj,
    origin_run_id: str,
    step_to_rerun: Optional[str] = None,
    name: Optional[str] = None,
    run_id_file: Optional[str] = None,
    airflow_run_id: Optional[str] = None,
    deployer_attribute_file: Optional[str] = None,
    **kwargs,
) -> None:
    """Post the resumed DAG run; print the new Metaflow run's pathspec."""
    from .live.cli_actions import resume_flow

    name = name or getattr(obj, "mfairflow_group_name", None)
    try:
        posted = resume_flow(obj, name, origin_run_id, step_to_rerun, kwargs, airflow_run_id)
    except CompileError as exc:
        click.secho(exc.render(), err=True, fg="red")
        sys.exit(EXIT_USER_ERROR)
    _posted(obj, posted, f"resumed from *{origin_run_id}*", run_id_file, deployer_attribute_file)


def _posted(obj, triggered, what: str, run_id_file, deployer_attribute_file) -> None:
    """After a DAG run was posted: the run id file, the Deployer's attribute file, a message."""
    pathspec = f"{obj.flow.name}/{triggered.run_id}"
    if run_id_file:
        with open(run_id_file, "w") as f:
            f.write(triggered.run_id)
    if deployer_attribute_file:
        with open(deployer_attribute_file, "w") as f:
            json.dump(
                {
                    "name": triggered.dag_id,
                    "metadata": obj.metadata.metadata_str(),
                    "pathspec": pathspec,
                    "airflow_run_id": triggered.airflow_run_id,
                },
                f,
            )
    obj.echo(
        f"DAG *{triggered.dag_id}* {what} (Airflow run *{triggered.airflow_run_id}*), "
        f"Metaflow run *{pathspec}*.",
        bold=True,
    )


@airflow.command(help="Status of one run (Airflow run id or Metaflow run id).")
@click.argument("run")
@click.option("--name", default=None, type=str, help="DAG name (default: as for create).")
@click.pass_obj
def status(obj, run: str, name: Optional[str] = None) -> None:
    """Print Pending, Running, Succeeded or Failed."""
    from .live.cli_actions import run_action

    _live(lambda: click.echo(run_action(obj, name, run, "status")))


@airflow.command(help="Terminate one run (Airflow run id or Metaflow run id).")
@click.argument("run")
@click.option("--name", default=None, type=str, help="DAG name (default: as for create).")
@click.pass_obj
def terminate(obj, run: str, name: Optional[str] = None) -> None:
    """Mark the run failed in Airflow, which stops its tasks."""
    from .live.cli_actions import run_action

    _live(lambda: obj.echo(run_action(obj, name, run, "terminate")))


@airflow.command(help="Delete the deployed DAG: pause, end runs, remove the file, delete it.")
@click.option("--name", default=None, type=str, help="DAG name (default: as for create).")
@click.option(
    "--authorize",
    default=None,
    help="The deployment's production token: needed to delete a DAG another user deployed.",
)
@click.pass_obj
def delete(obj, name: Optional[str] = None, authorize: Optional[str] = None) -> None:
    """Remove the DAG's file (only one mfairflow generated for it, in the DAGs folder) and the
    DAG in Airflow."""
    from .live.cli_actions import delete_flow

    _live(lambda: delete_flow(obj, name, authorize))


@airflow.command(
    "publish-event",
    help="Publish an event: the DAGs of flows with @trigger(event=NAME) start, their "
    "parameters mapped from the payload.",
)
@click.argument("event_name")
@click.option("--payload", default=None, help="The event's payload: a JSON object.")
@click.pass_obj
def publish_event(obj, event_name: str, payload: Optional[str] = None) -> None:
    """Record an Asset event named EVENT_NAME in Airflow, with the payload as its extra."""
    from .live.events import AirflowEvent

    try:
        extra = json.loads(payload) if payload is not None else {}
        problem = None if isinstance(extra, dict) else "--payload must be a JSON object"
    except ValueError as exc:
        problem = f"--payload is not JSON ({exc})"
    if problem:
        hint = "write --payload '{\"field\": 1}'"
        click.secho(CompileError(problem, hint=hint).render(), err=True, fg="red")
        sys.exit(EXIT_USER_ERROR)

    def publish() -> None:
        event = AirflowEvent(event_name, extra).publish()
        obj.echo(f"Event *{event_name}* published (Airflow event {event.get('id')}).", bold=True)

    _live(publish)


def _live(action) -> None:
    try:
        action()
    except CompileError as exc:
        click.secho(exc.render(), err=True, fg="red")
        sys.exit(EXIT_USER_ERROR)
