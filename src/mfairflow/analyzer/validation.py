"""Everything the user guide marks unsupported, as one clear error each."""

from __future__ import annotations

from dataclasses import dataclass

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
# Flow decorators the DAG cannot carry (none today: @trigger and @trigger_on_finish are Assets).
UNSUPPORTED_FLOW_DECORATORS: dict[str, str] = {}
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
    switch_structure(ctx)
    for name in graph.sorted_nodes:
        node = graph[name]
        where = {"step": name, "location": ctx.step_location(name)}
        if node.type not in ("start", "linear", "split", "join", "foreach", "end", "split-switch"):
            raise CompileError(
                f"step type {node.type!r} is not supported with Airflow",
                hint="use linear steps, static branches (self.next(self.a, self.b)) and " "foreach",
                **where,
            )


@dataclass(frozen=True)
class SwitchCases:
    """Where a switch's cases run and meet (see ``switch_merge``)."""

    merge: str
    """The step where the cases meet again."""
    last_of_case: dict
    """Case (the step the switch names) → the case's last step, a parent of the merge."""
    steps_of_case: dict
    """Case → every step of the case, foreach bodies and split branches included."""
    other_parents: tuple = ()
    """Parents of the merge outside the cases (the other branches of a static split whose
    join is where the cases meet)."""
    nested: tuple = ()
    """(switch, SwitchCases) of the switches nested in a case whose own cases end where this
    switch's cases meet."""
    covered: bool = False
    """True for such a nested switch: the outer switch's merge reads its choice."""


def switch_structure(ctx: FlowContext) -> dict:
    """Every switch step → its SwitchCases, outer switches first (a switch nested in a case
    whose cases end where the outer cases meet is described by the outer one, ``covered``)."""
    graph = ctx.graph
    result: dict = {}
    for name in graph.sorted_nodes:
        if graph[name].type != "split-switch" or name in result:
            continue
        cases = switch_merge(ctx, graph[name])
        result[name] = cases
        pending = list(cases.nested)
        while pending:
            inner, inner_cases = pending.pop()
            result[inner] = SwitchCases(
                cases.merge, inner_cases.last_of_case, inner_cases.steps_of_case, covered=True
            )
    return result


def switch_merge(ctx: FlowContext, node) -> SwitchCases:
    """The step where a switch's cases meet again, and which of its parents each case reaches.

    Each case is a chain of linear steps, foreaches and static splits (each joined inside the
    case) and nested switches that ends in one common step, or is empty: the switch names the
    step where the cases meet (an "if without else"), which then reads the switch step's own
    task. A nested switch either meets inside the case, or its cases end where the outer
    cases meet: that case's last step is then the nested switch's choice (``(switch, {case:
    last step})``). A case that leads back to the switch (a recursive switch) cannot be an
    Airflow DAG. A switch inside a foreach body skips its unchosen cases split by split, which
    a foreach inside such a case cannot follow (its skipped instances leave no splits to map
    over).
    """
    graph = ctx.graph
    where = {"step": node.name, "location": ctx.step_location(node.name)}
    last_of_case, steps_of_case, nested = {}, {}, []
    merges = set()
    for case in node.out_funcs:
        last, child, steps = _case_end(ctx, node, case, [node.name], nested)
        merges.add(child)
        last_of_case[case] = last
        steps_of_case[case] = tuple(steps)
    if len(merges) != 1:
        raise CompileError(
            f"the cases of the conditional step {node.name!r} do not meet in one step "
            f"({', '.join(sorted(merges))})",
            hint="make every case end in the same step",
            **where,
        )
    merge = merges.pop()
    others = set(graph[merge].in_funcs) - set(_last_steps(last_of_case))
    # The join of a static split may also follow the split's other branches (a switch in one
    # branch); any other step where the cases meet follows only them.
    if others and graph[merge].type != "join":
        raise CompileError(
            f"step {merge!r} follows the cases of the conditional step {node.name!r} and also "
            "other steps",
            hint="let only the cases of the switch lead into it",
            step=merge,
            location=ctx.step_location(merge),
        )
    return SwitchCases(merge, last_of_case, steps_of_case, tuple(sorted(others)), tuple(nested))


def _last_steps(last_of_case: dict) -> list:
    """Every step that can be a case's last step (through nested switches' choices)."""
    result = []
    for last in last_of_case.values():
        result += _last_steps(last[1]) if isinstance(last, tuple) else [last]
    return result


def _case_end(ctx: FlowContext, node, case: str, seen: list, nested: list) -> tuple:
    """(last step or nested choice, the step after the case, every step of the case)."""
    graph = ctx.graph
    where = {"step": node.name, "location": ctx.step_location(node.name)}
    steps = []
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
        if current == case and _is_meeting_step(graph, node, case):
            return node.name, case, steps  # an empty case: the switch's own task is its last
        step = graph[current]
        if step.type in ("foreach", "split") and step.matching_join:
            if step.type == "foreach" and node.is_inside_foreach:
                raise CompileError(
                    f"case step {current!r} of the conditional step {node.name!r} is a "
                    "foreach; a switch inside a foreach cannot hold a foreach in a case",
                    hint="move the foreach after the step where the cases meet, or out "
                    "of the enclosing foreach",
                    step=current,
                    location=ctx.step_location(current),
                )
            # The whole block up to its join belongs to the case.
            block = _block_steps(graph, current)
            steps += block
            seen += block[1:]
            current = step.matching_join
            step = graph[current]
        elif step.type == "split-switch":
            inner = {c: _case_end(ctx, step, c, list(seen), nested) for c in step.out_funcs}
            steps.append(current)
            for _, _, inner_steps in inner.values():
                steps += [s for s in inner_steps if s not in steps]
            children = {child for _, child, _ in inner.values()}
            lasts = {c: last for c, (last, _, _) in inner.items()}
            child = children.pop() if len(children) == 1 else None
            if child is not None and set(graph[child].in_funcs) == set(_last_steps(lasts)):
                current = child  # the nested switch meets inside this case
                continue
            # The nested switch's cases end where this switch's cases meet.
            cases = SwitchCases(child or "", lasts, {c: v[2] for c, v in inner.items()})
            nested.append((current, cases))
            return (current, lasts), child, steps
        else:
            steps.append(current)
        if step.type not in ("linear", "join") or len(step.out_funcs) != 1:
            raise CompileError(
                f"case step {current!r} of the conditional step {node.name!r} is a "
                f"{step.type} step; each case must be a chain of linear steps, foreaches, "
                "static splits and switches",
                hint="move the step after the step where the cases meet",
                step=current,
                location=ctx.step_location(current),
            )
        child = step.out_funcs[0]
        if child in seen:
            current = child
            continue
        if len(graph[child].in_funcs) > 1:
            return current, child, steps
        current = child


def _is_meeting_step(graph, switch, case: str) -> bool:
    """True when the step a case names is where the cases meet: another step leads into it
    too, or another case of the switch names it as well."""
    return bool(set(graph[case].in_funcs) - {switch.name}) or switch.out_funcs.count(case) > 1


def _block_steps(graph, split: str) -> list:
    """A foreach or static split and every step up to its join (the join included)."""
    join = graph[split].matching_join
    steps, pending = [], [split]
    while pending:
        step = pending.pop(0)
        if step in steps:
            continue
        steps.append(step)
        if step != join:
            pending.extend(graph[step].out_funcs)
    return steps


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


# Characters of a datastore root that Metaflow's bootstrap commands (written for bash -c "...")
# cannot carry: quotes and shell expansions end or change the command, whitespace splits it.
_ROOT_UNSAFE = set('"\\`$\0') | {chr(c) for c in range(33)} | {"\x7f"}


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
    root_text = str(ctx.flow_datastore.datastore_root or "")
    bad = sorted({c for c in root_text if c in _ROOT_UNSAFE or not c.isprintable()})
    if bad:
        raise CompileError(
            f"the datastore root {root_text!r} contains {', '.join(map(repr, bad))}, which "
            "Metaflow's bootstrap commands in the pods cannot carry",
            hint="use a datastore root of letters, digits and / . _ - : (set "
            f"METAFLOW_DATASTORE_SYSROOT_{kind.upper()} or --datastore-root)",
        )
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
