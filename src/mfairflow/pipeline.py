"""The compile pipeline of `airflow create`: analyze, deploy, render, write.

Shared by the CLI's `create` (and every command that compiles the flow first) without click:
``obj`` is Metaflow's CLI state object (flow, graph, datastore, metadata, environment, echo).
"""

from __future__ import annotations

import os
import sys

from .errors import CompileError
from .options import CreateOptions


def compile_to_file(obj, options: CreateOptions) -> tuple[str, str]:
    """Analyze, render and write the DAG file (or compare it, with --check).

    Returns the DAG id and, for --check, the unified diff from the file on disk to the
    freshly generated source ("" when they are equal).
    """
    from .analyzer import Deployment, analyze_flow, with_deployment
    from .deploy import resolve_dag_name, resolve_token, start_code_package
    from .model_dump import write_model
    from .org_config import find_config, load_config
    from .render import dag_id_clash, load_dag_template, unified_diff, write_atomically

    _check_dag_path(options.dag_file)
    if not options.check:
        _check_overwrite(options.dag_file)
    _check_model_path(options)
    ctx = flow_context(obj)
    config_path = find_config(ctx.flow_file, options.config_file)
    if config_path is not None:
        obj.echo(f"Using the organization config {config_path}.")
    org = load_config(config_path)
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
    if options.target == "kubernetes" and ctx.metadata.TYPE == "local":
        obj.echo(
            "Note: the pods record the runs' metadata with Metaflow's local metadata provider, "
            "in files that vanish with each pod: the Metaflow client on your machine will not "
            "find these runs. Set METAFLOW_DEFAULT_METADATA=service and METAFLOW_SERVICE_URL "
            "(a Metaflow metadata service the pods reach) before `airflow create`."
        )
    if options.workflow_timeout is not None and spec.schedule is None:
        obj.echo(
            "Note: --workflow-timeout is enforced only for scheduled DAGs; this flow has no "
            "@schedule, so the DAG has no dagrun_timeout."
        )
    if options.emit_model:
        write_model(spec, options.emit_model)
    if options.check:
        diff = unified_diff(options.dag_file, source, options.ignore_code_address)
        if diff and not unified_diff(options.dag_file, source, ignore_code_address=True):
            obj.echo(
                "Note: only the code package's content address differs: the code this machine "
                "would package (the flow's folder, the Metaflow version, its extensions) is not "
                "the package the DAG names; --ignore-code-address compares without it."
            )
        return dag_id, diff
    write_atomically(options.dag_file, source)
    obj.echo(f"The namespace of this production flow is production:{deployment.production_token}")
    return dag_id, ""


def flow_context(obj):
    """The FlowContext of this `python flow.py ...` invocation (Metaflow's CLI state)."""
    from metaflow.util import get_username

    from .analyzer import FlowContext

    return FlowContext(
        flow=obj.flow,
        graph=obj.graph,
        flow_datastore=obj.flow_datastore,
        metadata=obj.metadata,
        environment=obj.environment,
        flow_file=sys.argv[0],
        username=get_username(),
    )


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


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name one file: through symlinks (of the file or of a folder on the
    way) and hard links alike."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _check_dag_path(path: str) -> None:
    if _same_file(sys.argv[0], path):
        raise CompileError(
            "the DAG file is the flow file itself (the same file, also through a link)",
            hint="pass another file name, e.g. my_flow_dag.py",
        )
    if os.path.isdir(path):
        raise CompileError(
            f"the DAG file {path!r} is an existing folder",
            hint="name a file in it, e.g. " + os.path.join(path, "my_flow_dag.py"),
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


def _looks_like_a_dag(path: str) -> bool:
    """Whether ``path`` is a regular file that a DAG compiler (ours or Metaflow's) wrote."""
    from .dag_files import generated_by_mfairflow, read_head, written_by_metaflow

    head = read_head(path)
    return head is not None and (generated_by_mfairflow(head) or written_by_metaflow(head))


def _check_overwrite(path: str) -> None:
    """`create` replaces only a DAG file mfairflow generated (any file, even an empty one, that
    it did not write is someone's: a hand-written DAG, several teams' DAGs, Metaflow's own)."""
    from .dag_files import is_generated_dag

    if os.path.lexists(path) and not is_generated_dag(path):
        raise CompileError(
            f"the DAG file {path!r} exists and was not generated by mfairflow; it is left as it "
            "is",
            hint="pass another file name (or --name for another DAG id), or move the file away "
            "first if it is an older DAG of this flow",
        )


def _check_model_path(options: CreateOptions) -> None:
    """--emit-model writes only a model: never with --check, never over the flow, the DAG file
    or any file that is not an earlier model, and only into an existing folder."""
    from .model_dump import MODEL_HEADER

    path = options.emit_model
    if not path:
        return
    if options.check:
        raise CompileError(
            "--emit-model cannot be used with --check: --check writes nothing",
            hint="run --check alone, and write the model with --offline --emit-model FILE.yaml",
        )
    if _same_file(sys.argv[0], path):
        raise CompileError(
            f"the model file {path!r} is the flow file", hint="pass a file like model.yaml"
        )
    if _same_file(options.dag_file, path):
        raise CompileError(
            f"the model file {path!r} is the DAG file", hint="pass a file like model.yaml"
        )
    if _looks_like_a_dag(path):
        raise CompileError(
            f"the model file {path!r} is an existing DAG file (generated by mfairflow or by "
            "Metaflow's own airflow create)",
            hint="pass a file like model.yaml",
        )
    if str(path).endswith(".py"):
        raise CompileError(
            f"the model file {path!r} ends in .py: Airflow would load it as a DAG file",
            hint="pass a YAML file name, e.g. model.yaml",
        )
    if os.path.isdir(path):
        raise CompileError(
            f"the model file {path!r} is an existing folder",
            hint="name a file in it, e.g. " + os.path.join(path, "model.yaml"),
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CompileError(
            f"the folder {folder!r} of the model file does not exist",
            hint="create the folder first, or write the model elsewhere",
        )
    if os.path.lexists(path):
        first = ""
        if os.path.isfile(path):  # never open a FIFO or a device: it could block forever
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    first = handle.read(len(MODEL_HEADER))
            except OSError:
                pass
        if first != MODEL_HEADER:
            raise CompileError(
                f"the model file {path!r} exists and is not a model written by --emit-model; "
                "it is left as it is",
                hint="pass a new file name, or delete the file first",
            )


def default_dag_file(flow_name: str, name) -> str:
    """`$METAFLOW_AIRFLOW_DAGS_FOLDER/<dag id>.py`: where `create` writes without a FILE."""
    from .deploy import resolve_dag_name
    from .live.client import dags_folder_from_metaflow

    folder = dags_folder_from_metaflow()
    if not folder:
        raise CompileError(
            "no DAG file given and METAFLOW_AIRFLOW_DAGS_FOLDER is not set",
            hint="pass the DAG file (python flow.py airflow create my_dag.py), or set "
            "METAFLOW_AIRFLOW_DAGS_FOLDER to Airflow's DAGs folder",
        )
    dag_id = resolve_dag_name(flow_name, name)[0]
    return os.path.join(folder, f"{dag_id}.py")


def deploy_written(obj, dag_id: str, dag_file: str, paused: bool, timeout_s: float) -> None:
    """With METAFLOW_AIRFLOW_REST_API_URL set: wait until Airflow loaded the new file, then
    (un)pause the DAG. Without it, nothing (create only writes the file)."""
    from .live.client import AirflowClient, config_from_metaflow
    from .live.commands import deploy

    config = config_from_metaflow()
    if config is None:
        return
    written_at = os.stat(dag_file).st_mtime
    deploy(
        AirflowClient(config),
        dag_id,
        os.path.abspath(dag_file),
        written_at,
        paused,
        timeout_s,
        obj.echo,
    )


def write_deployer_attributes(obj, path: str, dag_id: str, dag_file: str) -> None:
    """What Metaflow's Deployer reads after `create` (no credentials in it)."""
    import json

    with open(path, "w") as f:
        json.dump(
            {
                "name": dag_id,
                "flow_name": obj.flow.name,
                "metadata": obj.metadata.metadata_str(),
                "additional_info": {"dag_file": os.path.abspath(dag_file)},
            },
            f,
        )
