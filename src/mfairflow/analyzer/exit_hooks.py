"""@exit_hook → hook tasks after the end step (success hooks, error hooks).

A success hook runs when the end step succeeded (the run succeeded); an error hook runs when any
step failed: a failure reaches the end step as ``upstream_failed`` (Airflow propagates it down
every path), so both kinds follow the end step, with ``all_success`` and ``one_failed``.
Each hook task runs Metaflow's own exit-hook script with the run's pathspec, as on Argo
Workflows.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Optional

from ..errors import CompileError
from ..escaping import airflow_literal, for_field, python_identifier, shell_words, unique_name
from ..model import HookSpec
from ..org_config import OrgConfig
from .context import FlowContext
from .option_checks import TASK_ID_MAX
from .pods import org_placement

TRIGGER_RULES = {"success": "all_success", "error": "one_failed"}
_OPTIONS = ("image",)


def analyze_exit_hooks(
    ctx: FlowContext,
    target: str,
    taken_task_ids: set[str],
    taken_vars: set[str],
    org: Optional[OrgConfig] = None,
) -> tuple[HookSpec, ...]:
    """Every hook of every @exit_hook, success hooks first, in declaration order."""
    hooks: list[HookSpec] = []
    location = ctx.flow_location()
    node_selector, tolerations = (), ()
    if target == "kubernetes" and ctx.flow_decorators("exit_hook"):
        node_selector, tolerations = org_placement(org, location)
    for deco in ctx.flow_decorators("exit_hook"):
        image = _image(deco.attributes.get("options"), location)
        functions = {
            kind: _functions(deco.attributes.get(f"on_{kind}"), kind, location)
            for kind in ("success", "error")
        }
        if not functions["success"] and not functions["error"]:
            raise CompileError(
                "@exit_hook needs at least one hook in on_success or on_error",
                hint="write @exit_hook(on_success=[my_hook]) and/or on_error=[...]",
                location=location,
            )
        for kind in ("success", "error"):
            for function in functions[kind]:
                _check_exists(ctx, function, kind, location)
                slug = re.sub(r"\W", "_", function, flags=re.ASCII)
                task_id = unique_name(f"exit_hook_on_{kind}_{slug}", taken_task_ids)
                if len(task_id) > TASK_ID_MAX:
                    raise CompileError(
                        f"the exit hook {function[:40]!r}... of @exit_hook(on_{kind}=...) makes "
                        f"an Airflow task id longer than Airflow's {TASK_ID_MAX} characters",
                        hint="shorten the hook's name or module path to at most "
                        f"{TASK_ID_MAX - len(task_id) + len(function)} characters",
                        location=location,
                    )
                hooks.append(
                    HookSpec(
                        task_id=task_id,
                        var=python_identifier(task_id, taken_vars),
                        function=function,
                        on=kind,
                        trigger_rule=TRIGGER_RULES[kind],
                        script_args=shell_words([os.path.basename(ctx.flow_file), function]),
                        image=image if target == "kubernetes" else None,
                        node_selector=node_selector,
                        tolerations=tolerations,
                    )
                )
    return tuple(hooks)


def local_hook_env(ctx: FlowContext) -> tuple[tuple[str, str], ...]:
    """What a hook process of the local target needs to read the run back (the datastore and
    metadata the steps were given on their command line)."""
    root = ctx.flow_datastore.datastore_root
    datastore = str(ctx.flow_datastore.TYPE)
    settings = (
        ("METAFLOW_DEFAULT_DATASTORE", datastore),
        ("METAFLOW_DEFAULT_METADATA", str(ctx.metadata.TYPE)),
    )
    if datastore != "local":  # a cloud datastore: its root as Metaflow reads it
        sysroot = (f"METAFLOW_DATASTORE_SYSROOT_{datastore.upper()}", airflow_literal(root))
        return (*settings, sysroot)
    if os.path.basename(root) != ".metaflow":
        raise CompileError(
            f"@exit_hook with --target local needs a datastore root named .metaflow, not {root!r}",
            hint="drop --datastore-root (Metaflow then uses the .metaflow folder beside the "
            "flow) or give a root ending in /.metaflow",
            location=ctx.flow_location(),
        )
    # Metaflow's local root is <sysroot>/.metaflow.
    return (*settings, ("METAFLOW_DATASTORE_SYSROOT_LOCAL", airflow_literal(os.path.dirname(root))))


def _functions(value, kind: str, location: str) -> list[str]:
    """The hook names of on_success / on_error (a function or its name, as Metaflow takes)."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise CompileError(
            f"@exit_hook(on_{kind}=...) must be a list of functions or function names, "
            f"not {type(value).__name__}",
            hint=f"write on_{kind}=[my_hook] or on_{kind}=['my_hook']",
            location=location,
        )
    names = []
    for item in value:
        if callable(item) and isinstance(getattr(item, "__name__", None), str):
            names.append(item.__name__)
        elif isinstance(item, str) and item:
            names.append(item)
        else:
            raise CompileError(
                f"@exit_hook(on_{kind}=...) holds {item!r}, which is neither a function nor "
                "a function's name",
                hint="list functions defined at the top level of the flow file, or "
                "'package.module.function' paths",
                location=location,
            )
    return names


def _check_exists(ctx: FlowContext, function: str, kind: str, location: str) -> None:
    """The hook must be what Metaflow's exit-hook script will find: an importable
    ``module.function`` path, or a function at the top level of the flow file."""
    found = None
    if "." in function:
        module_name, _, name = function.rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), name, None)
        except Exception:  # an unimportable module: reported below
            found = None
    else:
        module = sys.modules.get(type(ctx.flow).__module__)
        found = getattr(module, function, None)
    if not callable(found):
        raise CompileError(
            f"the exit hook {function!r} of @exit_hook(on_{kind}=...) is not a function at the "
            "top level of the flow file nor an importable module.function",
            hint="define the hook as a top-level function in the flow file (def "
            f"{function.rpartition('.')[2]}(run=None): ...), or name an importable "
            "'package.module.function'",
            location=location,
        )


def _image(options, location: str):
    """The image of @exit_hook(options={"image": ...}), or None (the DAG's default image)."""
    if not options:
        return None
    if not isinstance(options, dict) or set(options) - set(_OPTIONS):
        raise CompileError(
            f"@exit_hook(options={options!r}) is not supported: the only option is 'image'",
            hint="pass options={'image': 'registry/image:tag'} or no options",
            location=location,
        )
    image = options.get("image")
    if image is not None and (not isinstance(image, str) or not image.strip()):
        raise CompileError(
            f"@exit_hook(options={{'image': {image!r}}}) must name an image",
            hint="pass the image as a string, e.g. 'python:3.11'",
            location=location,
        )
    return None if image is None else for_field("KubernetesPodOperator", "image", image)
