"""Deploy-time decisions that touch the datastore: DAG name, production token, code package."""

from __future__ import annotations

import base64
import json
import re
from hashlib import sha1
from io import BytesIO
from typing import Callable, Optional

from .analyzer import FlowContext
from .datastore_errors import datastore_errors
from .errors import CompileError
from .options import CreateOptions

TOKEN_STORAGE_ROOT = "mf.airflow"
_VALID_NAME = re.compile(r"^[a-zA-Z0-9_.-]+$")


def resolve_dag_name(flow_name: str, name: Optional[str]) -> tuple[str, str, bool]:
    """The DAG id, the production-token prefix and whether the flow uses @project."""
    from metaflow import current

    project = current.get("project_name")
    if project:
        if name:
            raise CompileError(
                "--name is not supported for flows with @project",
                hint="the DAG name follows the project and branch; use --branch instead",
            )
        dag_name = current.project_flow_name
        branch = f"{project}.{current.branch_name}".encode()
        prefix = "mfprj-" + base64.b32encode(sha1(branch).digest()).decode()[:16]
        is_project = True
    else:
        dag_name = name or flow_name
        prefix = dag_name
        is_project = False
    if not _VALID_NAME.fullmatch(dag_name) or len(dag_name) > 250:
        raise CompileError(
            f"DAG name {dag_name!r} is not a valid Airflow DAG id",
            hint="use letters, digits, '_', '-' and '.' only (at most 250 characters)",
        )
    return dag_name, prefix.lower(), is_project


def resolve_token(
    ctx: FlowContext,
    options: CreateOptions,
    dag_name: str,
    prefix: str,
    is_project: bool,
    echo: Callable[[str], None],
) -> str:
    """The production token of this deployment, with the guide's semantics.

    The first deploy generates a token; a redeploy reuses it; --generate-new-token moves to a
    new namespace; --new-token X uses X; --authorize X proves the right to take over another
    user's deployment. Offline, nothing is read or written in the datastore: the token is the
    given one, else the cached one, else the one a first deploy would generate.
    """
    from metaflow.plugins.aws.step_functions.production_token import (
        load_token,
        new_token,
        store_token,
    )

    given = _strip(options.new_token)
    if given and is_project:
        raise CompileError(
            "--new-token is not supported for flows with @project",
            hint="use --generate-new-token to start a new namespace",
        )
    if options.offline:
        return given or _strip(options.authorize) or load_token(prefix) or new_token(prefix)

    previous = check_authorized(ctx, dag_name, prefix, options.authorize, "create")
    prev_token = previous[1] if previous is not None else None
    if given:
        token = given
        save_deployment(ctx, dag_name, token)
        echo(f"Using the given token, {token}.")
    elif prev_token is None or options.generate_new_token:
        token = new_token(prefix, prev_token)
        if token is None:
            raise CompileError(
                "--generate-new-token cannot continue after a token given with --new-token",
                hint="use --new-token NEW_TOKEN to move to a new namespace",
            )
        save_deployment(ctx, dag_name, token)
        echo("A new production token was generated.")
    else:
        token = prev_token
    store_token(prefix, token)
    return token


def check_authorized(
    ctx: FlowContext, dag_name: str, prefix: str, authorize: Optional[str], command: str
) -> Optional[tuple[str, str]]:
    """(owner, token) of the recorded deployment of ``dag_name``, or None; a CompileError when
    another user deployed it and neither ``authorize`` (--authorize) nor the token cached on
    this machine is its production token. ``command``: `create` or `delete`."""
    from metaflow.plugins.aws.step_functions.production_token import load_token

    previous = existing_deployment(ctx, dag_name)
    if previous is not None:
        prev_user, prev_token = previous
        if prev_user != ctx.username and (_strip(authorize) or load_token(prefix)) != prev_token:
            action = "deploy a new version" if command == "create" else "delete it"
            raise CompileError(
                f"the DAG {dag_name!r} was deployed by the user {prev_user!r}; you need their "
                f"production token to {action}",
                hint=f"ask them for the token, then run: airflow {command} --authorize TOKEN"
                + (" (needed only once; it is cached)" if command == "create" else ""),
            )
    return previous


@datastore_errors
def existing_deployment(ctx: FlowContext, dag_name: str) -> Optional[tuple[str, str]]:
    """(owner, token) of the deployment recorded in the datastore, or None."""
    backend = ctx.flow_datastore._storage_impl
    path = f"{TOKEN_STORAGE_ROOT}/{dag_name}"
    if not backend.is_file([path])[0]:
        return None
    with backend.load_bytes([path]) as results:
        for _, local_path, _ in results:
            if local_path is not None:
                with open(local_path) as handle:
                    data = json.load(handle)
                return data["owner"], data["production_token"]
    return None


@datastore_errors
def save_deployment(ctx: FlowContext, dag_name: str, token: str) -> None:
    """Record the owner and token of a deployment next to the DAG name in the datastore."""
    payload = json.dumps({"production_token": token, "owner": ctx.username}).encode()
    ctx.flow_datastore._storage_impl.save_bytes(
        [(f"{TOKEN_STORAGE_ROOT}/{dag_name}", BytesIO(payload))], overwrite=True
    )


def start_code_package(obj, ctx: FlowContext, dag_file: str):
    """Start packaging the flow's code as Metaflow does; Metaflow builds it in a thread.

    The DAG file itself is left out: a DAG written next to the flow (as the guide does) must
    not change the next deploy's code package, or no two deploys would agree. Nothing is
    uploaded here (see ``code_package_address``).
    """
    import os

    from metaflow.package import MetaflowPackage

    dag_path = os.path.realpath(dag_file)
    return MetaflowPackage(
        ctx.flow,
        ctx.environment,
        obj.echo,
        suffixes=obj.package_suffixes,
        user_code_filter=lambda path: os.path.realpath(path) != dag_path,
        backend=_reproducible_backend(),
    )


# The content address the DAG is rendered with while Metaflow still builds the code package
# (see cli.compile_to_file): as long as a real one, and nowhere else in any DAG.
PROVISIONAL_SHA = sha1(b"mfairflow: the code package is still being built").hexdigest()


def content_address(ctx: FlowContext, sha: str) -> tuple[str, str]:
    """(url, sha) of a code package with this sha1 in the flow's datastore."""
    store = ctx.flow_datastore.ca_store
    impl = store._storage_impl
    return impl.full_uri(impl.path_join(store._prefix, sha[:2], sha)), sha


# What steps read from the INFO file of a code package (metaflow/meta_files.py readers): the
# Metaflow version (reported by every task) and the extension list (which extensions to load, in
# which order). The rest describes the machine that deployed (user, platform, Python build) and
# the git state of the flow's folder (recorded as run metadata): it would give every machine and
# every commit another content address, so it is left out.
INFO_KEYS_STEPS_NEED = frozenset(
    {
        "metaflow_version",
        "ext_info",
        "environment_type",
        "use_r",
        "script",
        "metaflow_r_version",
        "r_version",
        "r_version_code",
    }
)
INFO_ARCNAME = ".mf_meta/INFO"
# Metaflow's own fixed time for every entry (Dec 3, 2019) and its compression level.
PACKAGE_MTIME = 1575360000
PACKAGE_COMPRESSLEVEL = 3


def _info_steps_need(data: bytes) -> bytes:
    """Metaflow's INFO file with only the keys steps read, as sorted JSON."""
    info = json.loads(data)
    kept = {k: v for k, v in info.items() if k in INFO_KEYS_STEPS_NEED}
    if "ext_info" in kept:
        kept["ext_info"] = package_names(kept["ext_info"])
    return json.dumps(kept, sort_keys=True).encode("utf-8")


_PYTHONPATH_PACKAGE = re.compile(r"_pythonpath_(\d+)")
_PACKAGE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def package_names(ext_info: list) -> list:
    """Metaflow's extension info with a package name for every extension.

    Metaflow calls an extension that it finds on the path but in no installed distribution
    (an editable install among them) ``_pythonpath_<n>``, which is no package name; its uv
    bootstrap passes every name to ``uv sync --no-install-package``, which refuses it. Such a
    package takes the name of the one extension folder it holds (``mfairflow``: the same name
    a regular install of mfairflow has), else ``pythonpath-<n>``.
    """
    if not (isinstance(ext_info, list) and len(ext_info) == 2):
        return ext_info
    packages, per_point = ext_info
    if not isinstance(packages, dict) or not isinstance(per_point, dict):
        return ext_info
    renamed = {}
    for name, package in packages.items():
        number = _PYTHONPATH_PACKAGE.fullmatch(name)
        if number is None:
            continue
        files = package.get("files") or [] if isinstance(package, dict) else []
        folders = {str(path).split("/", 1)[0] for path in files}
        new = folders.pop() if len(folders) == 1 else ""
        if not _PACKAGE_NAME.fullmatch(new) or new in packages or new in renamed.values():
            new = f"pythonpath-{number.group(1)}"
        renamed[name] = new
    if not renamed:
        return ext_info
    packages = {renamed.get(name, name): package for name, package in packages.items()}
    per_point = {
        point: [
            (
                [renamed.get(entry[0], entry[0]), *entry[1:]]
                if isinstance(entry, (list, tuple))
                else entry
            )
            for entry in entries
        ]
        for point, entries in per_point.items()
    }
    return [packages, per_point]


def _write_reproducible_tgz(entries: list) -> bytes:
    """A .tgz of ``entries`` (arcname, bytes, executable), sorted by name, with fixed times,
    owner 0:0 without names, mode 0644/0755 and a gzip header without time or file name."""
    import gzip
    import tarfile

    raw = BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as out:
        for arcname, data, executable in sorted(entries, key=lambda entry: entry[0]):
            info = tarfile.TarInfo(arcname)
            info.mtime = PACKAGE_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o755 if executable else 0o644
            info.size = len(data)
            out.addfile(info, BytesIO(data))
    packed = BytesIO()
    with gzip.GzipFile(
        filename="", fileobj=packed, mode="wb", compresslevel=PACKAGE_COMPRESSLEVEL, mtime=0
    ) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def reproducible_package(blob: bytes) -> bytes:
    """The code package ``blob`` (a .tgz of regular files) as ``ReproducibleTarBackend``
    writes it: what any Metaflow package becomes when made reproducible.

    Entries are sorted by name; every entry gets Metaflow's fixed time, owner 0:0 without user
    or group names, and mode 0644 (0755 if it was executable); the INFO file keeps only what
    steps read (``INFO_KEYS_STEPS_NEED``), as sorted JSON; the gzip header has no time and no
    file name. The archive format, the file names and every file's content are Metaflow's, so
    the pods unpack it with Metaflow's own commands. What still changes the address is code:
    the flow's folder, the Metaflow version and the extensions installed where it is deployed
    (and a zlib whose deflate output differs, e.g. zlib-ng).
    """
    import gzip
    import tarfile

    entries = []
    # Decompressed once: reading members from a gzip stream out of order re-decompresses it.
    with tarfile.open(fileobj=BytesIO(gzip.decompress(blob)), mode="r:") as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue  # Metaflow packages files only
            data = archive.extractfile(member).read()
            if member.name == INFO_ARCNAME:
                data = _info_steps_need(data)
            entries.append((member.name, data, bool(member.mode & 0o111)))
    return _write_reproducible_tgz(entries)


def _reproducible_backend():
    """Metaflow's tar backend, writing the reproducible archive (built on first use, so that
    importing this module does not import Metaflow)."""
    from metaflow.packaging_sys.tar_backend import TarPackagingBackend

    global _BACKEND
    if _BACKEND is not None:
        return _BACKEND

    class ReproducibleTarBackend(TarPackagingBackend):
        """Metaflow's "tgz" archive, written reproducibly (see ``reproducible_package``).

        Metaflow's packager hands every file to ``add_file``/``add_data``; they are kept and
        written sorted on ``close``. The package metadata names "tgz" (``backend_type``), so
        the pods unpack it with Metaflow's own tar backend; the class registers under its own
        name only because Metaflow's registry allows one class per name.
        """

        type = "mfairflow-reproducible-tgz"

        @classmethod
        def backend_type(cls) -> str:
            return TarPackagingBackend.type

        def create(self):
            self._entries = []
            self._blob = None
            return self

        def add_file(self, filename: str, arcname=None):
            import os

            with open(filename, "rb") as handle:
                data = handle.read()
            executable = bool(os.stat(filename).st_mode & 0o111)
            self._entries.append((arcname or filename, data, executable))

        def add_data(self, data: BytesIO, arcname: str):
            content = data.getvalue()
            if arcname == INFO_ARCNAME:
                content = _info_steps_need(content)
            self._entries.append((arcname, content, False))

        def close(self):
            if self._blob is None and self._entries is not None:
                self._blob = _write_reproducible_tgz(self._entries)

        def get_blob(self):
            return self._blob

    _BACKEND = ReproducibleTarBackend
    return _BACKEND


_BACKEND = None


@datastore_errors
def code_package_address(ctx: FlowContext, package, offline: bool) -> tuple[str, str]:
    """Wait for the (reproducible) package; upload it unless offline. (url, sha)

    Offline, the address is the one the upload would give (the sha1 of the same bytes,
    computed here), so ``--offline`` and ``--check`` name the package a deploy uploads.
    """
    blob = package.blob
    blob = blob.getvalue() if isinstance(blob, BytesIO) else bytes(blob)
    if offline:
        return content_address(ctx, sha1(blob).hexdigest())
    url, sha = ctx.flow_datastore.save_data([blob], len_hint=1)[0]
    return url, sha


def _strip(token: Optional[str]) -> Optional[str]:
    if token and token.startswith("production:"):
        return token[len("production:") :]
    return token or None
