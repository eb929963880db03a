"""DagSpec → DAG file: Jinja templates, one literal filter, black, compile, atomic write."""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from .errors import CompileError
from .model import DagSpec, JsonObject

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
SOURCE_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
ENTRY_TEMPLATE = "dag.py.jinja"


def template_dirs(extra: Sequence[str] = ()) -> list[str]:
    """Template folders in search order: the organization's first, the packaged ones last."""
    packaged = PACKAGE_TEMPLATES if PACKAGE_TEMPLATES.is_dir() else SOURCE_TEMPLATES
    return [*map(str, extra), str(packaged)]


def py_literal(value: object) -> str:
    """Python source for a plain value: the only way a value enters the generated file.

    Strings go through ``repr`` (always a valid, exact literal), tuples and lists become list
    literals, ``JsonObject`` and dicts become dict literals. Anything else is a bug in the
    analyzer and fails loudly rather than writing text into the source.
    """
    if isinstance(value, str):
        return _string_literal(value)
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        return f"float({str(value)!r})"
    if isinstance(value, JsonObject):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    raise TypeError(f"no Python literal for {type(value).__name__}: {value!r}")


# A string literal longer than this is written as implicitly concatenated parts (inside
# parentheses, so that black puts one part per line): no line of the DAG needs scrolling.
LONG_LITERAL = 90
PART_LENGTH = 76
# Where a long string is split, best first: between shell commands, at line ends, at spaces.
_STRONG_BREAKS = re.compile(r"(?<=; )|(?<= && )|(?<= \|\| )|(?<=\n)")
_WEAK_BREAKS = re.compile(r"(?<= )")


def _string_literal(value: str) -> str:
    """``repr(value)``, or for a long value ``(repr(part) repr(part) ...)`` on one line.

    The parts are pieces of the value itself (never of its escaped text), each written with
    ``repr``, so Python joins them back into exactly ``value``; the literal never holds a
    raw line break, so it is safe inside a comment too.
    """
    text = repr(value)
    if len(text) <= LONG_LITERAL:
        return text
    pieces = []
    for segment in _STRONG_BREAKS.split(value):
        if len(repr(segment)) > PART_LENGTH:
            pieces.extend(p for p in _WEAK_BREAKS.split(segment) if p)
        elif segment:
            pieces.append(segment)
    parts: list[str] = []
    for piece in pieces:
        if parts and len(repr(parts[-1] + piece)) <= PART_LENGTH:
            parts[-1] += piece
        else:
            parts.append(piece)
    if len(parts) < 2:
        return text
    return "(" + " ".join(repr(part) for part in parts) + ")"


def py_identifier(value: object) -> str:
    """A Python name for source (a variable, an import, a keyword argument), checked.

    Names are not literals, so they cannot go through ``py_literal``; instead anything that
    is not exactly one identifier (and not a keyword) fails the render rather than reaching
    the file.
    """
    import keyword

    if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
        raise CompileError(
            f"template error: {value!r} is not a Python name",
            hint="report this (a name written into the DAG file must be an identifier)",
        )
    return value


def py_identifiers(values: Sequence[object]) -> str:
    """Several checked Python names, comma-separated (an import list)."""
    return ", ".join(py_identifier(value) for value in values)


def py_dotted(value: object) -> str:
    """A checked dotted module path (``package.module``) for an import statement."""
    if not isinstance(value, str):
        raise CompileError(f"template error: {value!r} is not a module path", hint="report this")
    return ".".join(py_identifier(part) for part in value.split("."))


def py_dict(pairs: Sequence[tuple[str, object]]) -> str:
    """Python dict literal for ordered (key, value) pairs."""
    return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in pairs) + "}"


def _bytecode_cache():
    """Jinja's cache of compiled templates in a private per-user temporary folder (Jinja checks
    its owner and mode): compiling the templates is a large share of a small flow's `create`.
    The cache is keyed by the template's file name and checked against its source, so an
    edited or overriding template is compiled afresh. None where no such folder can be made.

    Its entries have their own file names: Jinja's key does not tell sandboxed code (which
    calls through the sandbox's checks) from unsandboxed code, and an mfairflow from before the
    sandbox (or any other Jinja user) would fail on the sandbox's code, or pass its own code to
    the sandbox."""
    import jinja2

    try:
        return jinja2.FileSystemBytecodeCache(pattern="__mfairflow_sandboxed_%s.cache")
    except (OSError, RuntimeError):
        return None


def make_environment(template_dir: Sequence[str] = ()):
    """The Jinja environment: organization templates first, strict about undefined names.

    The packaged templates are also reachable as ``mfairflow/<name>``, so that an override of
    the same name can ``{% extends "mfairflow/dag.py.jinja" %}`` and replace single blocks.
    Templates render in Jinja's sandbox: a template reads the model and lays it out, and cannot
    reach Python's internals (``x.__class__``, a function's globals) to run code at compile time.
    """
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    dirs = template_dirs(template_dir)
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(dirs),
            jinja2.PrefixLoader({"mfairflow": jinja2.FileSystemLoader(dirs[-1])}),
        ]
    )
    env = SandboxedEnvironment(
        loader=loader,
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["py"] = py_literal
    env.filters["pydict"] = py_dict
    env.filters["ident"] = py_identifier
    env.filters["idents"] = py_identifiers
    env.filters["dotted"] = py_dotted
    return env


def load_dag_template(template_dir: Sequence[str] = ()):
    """The entry template, compiled (and black imported): ready to render a DagSpec."""
    import black  # noqa: F401 (imported now: this can run while the code package is built)
    import jinja2

    for folder in template_dir:
        if not Path(folder).is_dir():
            raise CompileError(
                f"the template folder {str(folder)!r} does not exist",
                hint="pass an existing folder to --template-dir (start from "
                "`mfairflow templates export DIR`)",
            )
    try:
        return make_environment(template_dir).get_template(ENTRY_TEMPLATE)
    except jinja2.TemplateError as exc:
        raise _template_error(exc) from None


def render_dag(spec: DagSpec, template_dir: Sequence[str] = (), template=None) -> str:
    """The formatted, compiled-checked source of the DAG file.

    ``template`` is the result of ``load_dag_template(template_dir)`` when already loaded.
    """
    import jinja2

    try:
        template = template or load_dag_template(template_dir)
        text = template.render(dag=spec)
    except CompileError:
        raise
    except jinja2.TemplateError as exc:
        raise _template_error(exc) from None
    except RecursionError:
        raise CompileError(
            "template error: a template extends itself",
            hint='an override of dag.py.jinja must {% extends "mfairflow/dag.py.jinja" %} '
            "(the packaged file), not its own name",
        ) from None
    except Exception as exc:  # a template's own expression failed: {{ 1 + "a" }}, a bad filter
        raise _template_error(exc) from None
    source = format_source(text)
    try:
        compile(source, spec.dag_id + ".py", "exec")
    except SyntaxError as exc:  # pragma: no cover - black has already parsed it
        raise CompileError(f"generated DAG does not compile: {exc}", hint="report this") from None
    return source


def _template_error(exc: Exception) -> CompileError:
    """A template that fails to load or render, with the template's ``file:line``.

    Jinja reports syntax errors with their file and line; for errors raised while rendering
    (an undefined name, a TypeError in an expression), Jinja rewrites the traceback so that its
    frames are the templates' lines: the innermost template frame is where it failed.
    """
    import jinja2

    location = None
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.lineno:
        location = f"{exc.filename or exc.name}:{exc.lineno}"
    else:
        frame = exc.__traceback__
        while frame is not None:
            filename = frame.tb_frame.f_code.co_filename
            if filename.endswith(".jinja") or filename.endswith(".j2"):
                location = f"{filename}:{frame.tb_lineno}"
            frame = frame.tb_next
    message = str(exc) if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
    return CompileError(
        f"template error: {message}",
        hint="fix the template (an organization override, if --template-dir is used)",
        location=location,
    )


def format_source(text: str) -> str:
    """Format rendered text with black (in process); a syntax error is a template bug."""
    import black

    try:
        return black.format_str(text, mode=black.Mode(line_length=88))
    except black.InvalidInput as exc:
        raise CompileError(
            f"the rendered DAG is not valid Python: {exc}",
            hint="fix the template (an organization override, if --template-dir is used)",
        ) from None


CODE_SHA = re.compile(r'"METAFLOW_CODE_SHA": "([0-9a-f]{40})"')


def without_code_address(source: str) -> str:
    """The source with the code package's content address replaced by a fixed placeholder
    (what ``--check --ignore-code-address`` compares).

    The code package is reproducible (deploy.reproducible_package), so by default ``--check``
    compares the address too: a DAG whose package was swapped is stale.
    """
    match = CODE_SHA.search(source)
    if not match:
        return source
    sha = match.group(1)
    return source.replace(f"{sha[:2]}/{sha}", "<code package address>").replace(
        sha, "<code package sha1>"
    )


def with_code_address(
    source: str, provisional: tuple[str, str], real: tuple[str, str]
) -> Optional[str]:
    """The source rendered with a provisional code package address (url, sha), with the real
    address in its place; None when that cannot give the same file as rendering with the real
    one (addresses of different lengths).

    The address only ever appears inside string literals, as the sha, as ``<sha[:2]>/<sha>`` and
    as the url; an address of the same length leaves black's layout unchanged.
    """
    (p_url, p_sha), (url, sha) = provisional, real
    p_path, path = f"{p_sha[:2]}/{p_sha}", f"{sha[:2]}/{sha}"
    if len(p_sha) != len(sha) or p_url.replace(p_path, path) != url:
        return None
    return source.replace(p_path, path).replace(p_sha, sha)


def unified_diff(path: str, fresh: str, ignore_code_address: bool = False) -> str:
    """Unified diff from the file at ``path`` (empty if missing) to ``fresh``; "" when equal
    (with ``ignore_code_address``: equal but for the code package's content address)."""
    import difflib

    try:
        current = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        current = ""
    if current == fresh or (
        ignore_code_address
        and current
        and without_code_address(current) == without_code_address(fresh)
    ):
        return ""
    return (
        "".join(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                fresh.splitlines(keepends=True),
                fromfile=f"{path} (on disk)",
                tofile=f"{path} (generated)",
            )
        )
        or f"--- {path} (on disk)\n+++ {path} (generated)\n"
    )


# Metaflow's own `airflow create` writes one line `CONFIG = {...}`: a dict literal whose
# 'dag_instantiation_params' name the DAG id.
_METAFLOW_DAG_ID = re.compile(r"'dag_instantiation_params': \{'dag_id': '([^']*)'")


def dag_id_clash(dag_file: str, dag_id: str) -> Optional[str]:
    """Another DAG file in the same folder, written by mfairflow or by Metaflow's own
    `airflow create`, that declares the same DAG id, if any.

    Airflow keeps only one DAG per id, so two flows compiled to one DAG id (e.g. the same
    @project, branch and flow name), or a flow compiled by both compilers, would silently
    replace each other.
    """
    from .dag_files import declared, generated_by_mfairflow, open_regular, written_by_metaflow

    target = Path(dag_file).resolve()
    for path in sorted(target.parent.glob("*.py")):
        try:
            if path.resolve() == target:
                continue
        except (OSError, RuntimeError):  # a symlink loop
            continue
        handle = open_regular(path)
        if handle is None:  # a FIFO, a device, a folder, a dangling link: not a DAG file
            continue
        try:
            with handle:
                head = handle.read(20000)
                if written_by_metaflow(head):
                    match = _METAFLOW_DAG_ID.search(head + handle.read())
                    if match and match.group(1) == dag_id:
                        return f"{path.name} (written by Metaflow's own airflow create)"
                    continue
        except OSError:
            continue
        if generated_by_mfairflow(head) and declared(head, "DAG_ID") == dag_id:
            return path.name
    return None


def write_atomically(path: str, content: str) -> None:
    """Write ``content`` to ``path`` so that readers see the old file or the new one, never half.

    The temporary file sits in the same folder (same filesystem, so the rename is atomic) and
    its name starts with a dot and ends in ``.tmp``: Airflow's DAG processor skips files that
    do not end in ``.py``.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        mode: Optional[int] = None
        if target.exists():
            mode = target.stat().st_mode & 0o7777
        os.chmod(tmp, mode if mode is not None else 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
