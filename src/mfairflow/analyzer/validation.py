"""Everything the user guide marks unsupported, as one clear error each."""

from __future__ import annotations

from ..errors import CompileError
from .context import FlowContext

UNSUPPORTED_STEP_DECORATORS = {
    "batch": "AWS Batch cannot run Airflow tasks; remove @batch (every step runs as a "
    "Kubernetes pod; use @kubernetes or @resources for its resources)",
    "slurm": "Slurm cannot run Airflow tasks; remove @slurm (every step runs as a Kubernetes "
    "pod; use @kubernetes or @resources for its resources)",
    "parallel": "remove @parallel and use a plain foreach, which becomes Airflow dynamic task "
    "mapping",
}
UNSUPPORTED_FLOW_DECORATORS = {
    "trigger": "remove @trigger and start the DAG from Airflow (a schedule, a sensor such as "
    "@airflow_external_task_sensor, or a trigger in the UI or API)",
    "trigger_on_finish": "remove @trigger_on_finish and wait for the upstream DAG with "
    "@airflow_external_task_sensor instead",
    "exit_hook": "remove @exit_hook and use Airflow callbacks (on_failure_callback / "
    "on_success_callback) in an organization template instead",
}
UNSUPPORTED_KUBERNETES_OPTIONS = (
    "use_tmpfs",
    "tmpfs_size",
    "persistent_volume_claims",
    "image_pull_policy",
)
SUPPORTED_DATASTORES = ("s3", "azure", "gs")


def check_decorators(ctx: FlowContext) -> None:
    """Reject the flow and step decorators that cannot run on Airflow."""
    for name, hint in UNSUPPORTED_FLOW_DECORATORS.items():
        if ctx.flow_decorators(name):
            raise CompileError(
                f"@{name} is not supported with Airflow",
                hint=hint,
                location=ctx.flow_location(),
            )
    for node in ctx.graph.sorted_nodes:
        node = ctx.graph[node]
        for deco in node.decorators:
            if deco.name in UNSUPPORTED_STEP_DECORATORS:
                raise CompileError(
                    f"@{deco.name} is not supported with Airflow",
                    hint=UNSUPPORTED_STEP_DECORATORS[deco.name],
                    step=node.name,
                    location=ctx.step_location(node.name),
                )
        if getattr(node, "parallel_foreach", False) or getattr(node, "parallel_step", False):
            raise CompileError(
                "@parallel (a parallel foreach) is not supported with Airflow",
                hint=UNSUPPORTED_STEP_DECORATORS["parallel"],
                step=node.name,
                location=ctx.step_location(node.name),
            )


def check_graph(ctx: FlowContext) -> None:
    """Reject graph shapes that the guide lists as unsupported."""
    graph = ctx.graph
    for name in graph.sorted_nodes:
        node = graph[name]
        where = {"step": name, "location": ctx.step_location(name)}
        if node.type == "split-switch":
            switch_merge(ctx, node)
        if node.type not in ("start", "linear", "split", "join", "foreach", "end", "split-switch"):
            raise CompileError(
                f"step type {node.type!r} is not supported with Airflow",
                hint="use linear steps, static branches (self.next(self.a, self.b)) and " "foreach",
                **where,
            )


def switch_merge(ctx: FlowContext, node) -> tuple[str, dict]:
    """The step where a switch's cases meet again, and which of its parents each case reaches.

    Each case must be a chain of linear steps that ends in one common step; a case that leads
    back to the switch (a recursive switch) cannot be an Airflow DAG.
    """
    graph = ctx.graph
    where = {"step": node.name, "location": ctx.step_location(node.name)}
    if node.is_inside_foreach:
        raise CompileError(
            "a conditional step inside a foreach is not supported with Airflow",
            hint="decide inside the body step, or move the switch out of the foreach",
            **where,
        )
    last_of_case = {}
    merges = set()
    for case in node.out_funcs:
        seen = [node.name]
        current = case
        while True:
            if current in seen:
                loop = " → ".join([*seen[seen.index(current) :], current])
                raise CompileError(
                    f"the conditional step {node.name!r} loops back ({loop}); a recursive "
                    "switch cannot be an Airflow DAG, which has no cycles",
                    hint="turn the loop into a foreach, or loop inside one step",
                    **where,
                )
            seen.append(current)
            step = graph[current]
            if step.type != "linear" or len(step.out_funcs) != 1:
                raise CompileError(
                    f"case step {current!r} of the conditional step {node.name!r} is a "
                    f"{step.type} step; each case must be a chain of linear steps",
                    hint="move branches and loops after the step where the cases meet",
                    step=current,
                    location=ctx.step_location(current),
                )
            child = step.out_funcs[0]
            if len(graph[child].in_funcs) > 1 or child in seen:
                if child in seen:
                    current = child
                    continue
                merges.add(child)
                last_of_case[case] = current
                break
            current = child
    if len(merges) != 1:
        raise CompileError(
            f"the cases of the conditional step {node.name!r} do not meet in one step "
            f"({', '.join(sorted(merges))})",
            hint="make every case end in the same step",
            **where,
        )
    merge = merges.pop()
    if set(graph[merge].in_funcs) != set(last_of_case.values()):
        raise CompileError(
            f"step {merge!r} follows the cases of the conditional step {node.name!r} and also "
            "other steps",
            hint="let only the cases of the switch lead into it",
            step=merge,
            location=ctx.step_location(merge),
        )
    return merge, last_of_case


def check_kubernetes_options(ctx: FlowContext, step: str, attributes: dict) -> None:
    """Reject the @kubernetes options that the guide lists as unsupported."""
    for option in UNSUPPORTED_KUBERNETES_OPTIONS:
        if attributes.get(option):
            raise CompileError(
                f"@kubernetes({option}=...) is not supported with Airflow",
                hint=f"remove {option} from @kubernetes on this step (or unset "
                f"METAFLOW_KUBERNETES_{option.upper()})",
                step=step,
                location=ctx.step_location(step),
            )


NO_DATASTORE_HINT = (
    "set METAFLOW_DEFAULT_DATASTORE=s3 and METAFLOW_DATASTORE_SYSROOT_S3=s3://bucket/prefix "
    "(or azure with METAFLOW_DATASTORE_SYSROOT_AZURE=container/prefix and "
    "METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT, or gs with "
    "METAFLOW_DATASTORE_SYSROOT_GS=gs://bucket/prefix), or pass --datastore=s3|azure|gs "
    "before `airflow`; --target local needs no cloud datastore (it runs the DAG on this "
    "machine), and --offline only renders the DAG"
)


def check_datastore(ctx: FlowContext, offline: bool, target: str) -> None:
    """A deploy needs a cloud datastore, unless it is offline or runs locally; its settings
    must be ones Metaflow and the pods can use, and its endpoint must answer (online)."""
    kind = ctx.flow_datastore.TYPE
    if target != "kubernetes":
        if kind not in SUPPORTED_DATASTORES:
            for step in ctx.graph.sorted_nodes:
                if any(deco.name == "kubernetes" for deco in ctx.graph[step].decorators):
                    raise CompileError(
                        f"step {step!r} has @kubernetes, which Metaflow runs only with a cloud "
                        f"datastore; --target local runs every step with the {kind} datastore",
                        hint="use @resources for the step's resources (it applies on both "
                        "targets), or deploy with --target kubernetes and a cloud datastore",
                        step=step,
                        location=ctx.step_location(step),
                    )
        return
    if kind not in SUPPORTED_DATASTORES:
        if not offline:
            raise CompileError(
                f"datastore {kind!r} is not supported for an Airflow deploy: pods cannot read a "
                "datastore on this machine",
                hint=NO_DATASTORE_HINT,
            )
        return
    from metaflow import metaflow_config as cfg

    root = ctx.flow_datastore._storage_impl.datastore_root or ""
    setting = f"METAFLOW_DATASTORE_SYSROOT_{kind.upper()}"
    if kind == "azure":
        if "://" in root:
            path = root.split("://", 1)[1]
            raise CompileError(
                f"{setting}={root!r} has a URL scheme; Metaflow's Azure datastore takes "
                "container/prefix without 'azure://'",
                hint=f"write {setting}={path} (the container, then the folder in it)",
            )
        if root.startswith("/") or root.endswith("/") or "//" in root or not root:
            raise CompileError(
                f"{setting}={root!r} is not of the form container/prefix",
                hint=f"write {setting}=my-container/metaflow (no leading, trailing or double "
                "slashes)",
            )
        if not cfg.AZURE_STORAGE_BLOB_SERVICE_ENDPOINT:
            raise CompileError(
                "METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT is not set; the pods download the "
                "code package from it and Metaflow stores artifacts there",
                hint="set METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT="
                "https://<account>.blob.core.windows.net (also for --offline: the DAG names it)",
            )
    else:
        scheme = {"s3": "s3://", "gs": "gs://"}[kind]
        bucket = root[len(scheme) :].split("/", 1)[0] if root.startswith(scheme) else ""
        if not bucket:
            raise CompileError(
                f"{setting}={root!r} does not name a bucket",
                hint=f"write {setting}={scheme}my-bucket/metaflow",
            )
    if not offline:
        endpoint = datastore_endpoint(kind)
        if endpoint is not None:
            check_reachable(*endpoint)


def datastore_endpoint(kind: str):
    """(setting, URL) of an explicitly configured datastore endpoint, or None."""
    import os

    from metaflow import metaflow_config as cfg

    if kind == "azure":
        return (
            "METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT",
            cfg.AZURE_STORAGE_BLOB_SERVICE_ENDPOINT,
        )
    if kind == "s3" and cfg.S3_ENDPOINT_URL:
        return "METAFLOW_S3_ENDPOINT_URL", cfg.S3_ENDPOINT_URL
    if kind == "gs" and os.environ.get("STORAGE_EMULATOR_HOST"):
        return "STORAGE_EMULATOR_HOST", os.environ["STORAGE_EMULATOR_HOST"]
    return None


def check_reachable(setting: str, url: str, timeout: float = 5.0) -> None:
    """Fail fast, naming the setting, when nothing listens at the endpoint (the clouds' SDKs
    retry a refused connection for a minute or more before they give up)."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(url if "://" in url else f"http://{url}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise CompileError(
            f"the datastore endpoint {url} ({setting}) cannot be reached: {reason}",
            hint=f"check {setting} (host and port) and the network; the DAG file was not "
            "written",
        ) from None


UNSUPPORTED_ENVIRONMENT_DECORATORS = ("conda", "pypi", "conda_base", "pypi_base", "uv")


def check_environment(ctx: FlowContext) -> None:
    """@conda/@pypi environments are not bootstrapped in pods yet: say what to do instead."""
    hint = (
        "bake the step's dependencies into a container image and use "
        "@kubernetes(image=...) (or `image:` in mfairflow.yaml), then remove @conda/@pypi and "
        "--environment"
    )
    for name in UNSUPPORTED_ENVIRONMENT_DECORATORS:
        if ctx.flow_decorators(name):
            raise CompileError(
                f"@{name} is not supported by mfairflow yet",
                hint=hint,
                location=ctx.flow_location(),
            )
    for step in ctx.graph.sorted_nodes:
        for deco in ctx.graph[step].decorators:
            if deco.name in UNSUPPORTED_ENVIRONMENT_DECORATORS:
                raise CompileError(
                    f"@{deco.name} is not supported by mfairflow yet",
                    hint=hint,
                    step=step,
                    location=ctx.step_location(step),
                )
    if ctx.environment.TYPE not in ("local",):
        raise CompileError(
            f"--environment={ctx.environment.TYPE} is not supported by mfairflow yet",
            hint=hint,
        )
