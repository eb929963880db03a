"""A datastore that fails at deploy time (missing bucket or container, no credentials, an
endpoint that refuses) becomes one clear user error naming the setting to fix."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from .errors import CompileError

F = TypeVar("F", bound=Callable[..., Any])

CREDENTIAL_HINTS = {
    "s3": "give this machine AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY or an instance role) that may read and write the bucket",
    "azure": "sign in with `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and "
    "AZURE_CLIENT_SECRET, or run where a managed or workload identity is available "
    "(Metaflow uses DefaultAzureCredential)",
    "gs": "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
    "to a service-account key file (Metaflow uses google.auth.default())",
}
MISSING_MARKERS = ("ContainerNotFound", "NoSuchBucket", "404 POST", "404 GET", "bucket does not")
CREDENTIAL_MARKERS = (
    "Failed to authenticate with Azure",
    "default credentials were not found",
    "Unable to locate credentials",
    "NoCredentialsError",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthenticationFailed",
    "AuthorizationFailure",
    "403",
)


def describe(kind: str, root: str, exc: BaseException) -> CompileError:
    """The user error for a failed datastore operation of an online deploy."""
    setting = f"METAFLOW_DATASTORE_SYSROOT_{kind.upper()}"
    headline = getattr(exc, "headline", "")
    parts = (headline if headline != "Internal error" else "", exc)
    text = " ".join(str(part) for part in parts if part)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    place = "container" if kind == "azure" else "bucket"
    name = root.split("://", 1)[-1].split("/", 1)[0]
    if any(marker in text for marker in MISSING_MARKERS):
        return CompileError(
            f"the {place} {name!r} of {setting}={root} does not exist",
            hint=f"create the {place}, or set {setting} to one that exists; the DAG file was not "
            "written",
        )
    if any(marker in text for marker in CREDENTIAL_MARKERS):
        return CompileError(
            f"the {kind} datastore refused or found no credentials ({first})",
            hint=CREDENTIAL_HINTS[kind] + "; the DAG file was not written",
        )
    return CompileError(
        f"the {kind} datastore at {setting}={root} failed: {first}",
        hint=f"check {setting}, the datastore's endpoint and credentials; the DAG file was not "
        "written",
    )


def datastore_errors(func: F) -> F:
    """Turn any failure of ``func(ctx, ...)``'s datastore access into a CompileError."""

    @functools.wraps(func)
    def wrapper(ctx, *args, **kwargs):
        try:
            return func(ctx, *args, **kwargs)
        except (CompileError, KeyboardInterrupt):
            raise
        except Exception as exc:  # the clouds' SDKs and Metaflow's wrappers of them
            storage = ctx.flow_datastore._storage_impl
            raise describe(ctx.flow_datastore.TYPE, storage.datastore_root or "", exc) from None

    return wrapper  # type: ignore[return-value]
