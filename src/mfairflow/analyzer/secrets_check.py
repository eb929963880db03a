"""@secrets in pods: each source must name a secrets backend that a pod can reach.

The pods get Metaflow's secrets settings (METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE and the
backends' own settings, see kubernetes_env.py), and each backend fetches its secrets with the
pod's cloud identity. What cannot work is rejected here rather than in every pod at run time:
a source without a backend when no default is configured, and a backend Metaflow does not know.
"""

from __future__ import annotations

from ..errors import CompileError
from .context import FlowContext


def check_secrets(ctx: FlowContext) -> None:
    """Reject @secrets sources whose backend the pods could not use."""
    from metaflow.exception import MetaflowException
    from metaflow.plugins import SECRETS_PROVIDERS
    from metaflow.plugins.secrets.secrets_spec import SecretSpec

    known = sorted(provider.TYPE for provider in SECRETS_PROVIDERS)
    for step in ctx.graph.sorted_nodes:
        for deco in ctx.graph[step].decorators:
            if deco.name != "secrets":
                continue
            where = {"step": step, "location": ctx.step_location(step)}
            role = deco.attributes.get("role")
            for source in deco.attributes.get("sources") or ():
                try:
                    spec = (
                        SecretSpec.secret_spec_from_dict(source, role)
                        if isinstance(source, dict)
                        else SecretSpec.secret_spec_from_str(str(source), role)
                    )
                except MetaflowException as exc:
                    raise CompileError(
                        f"@secrets source {source!r} names no secrets backend, and "
                        f"METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE is not set ({exc.message})",
                        hint="set METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE (one of "
                        f"{', '.join(known)}) when you create the DAG, or name the backend "
                        "in the source ({'type': ..., 'id': ...})",
                        **where,
                    ) from None
                if spec.secrets_backend_type not in known:
                    raise CompileError(
                        f"@secrets source {source!r} uses the secrets backend "
                        f"{spec.secrets_backend_type!r}, which Metaflow does not know",
                        hint=f"use one of {', '.join(known)}",
                        **where,
                    )
