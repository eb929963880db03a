"""docs/templates.md, generated from the model's own definitions so it cannot drift."""

from __future__ import annotations

import ast
from pathlib import Path

MODEL_FILE = Path(__file__).with_name("model.py")

HEADER = """# The template contract

Generated from `src/mfairflow/model.py` by `python -m mfairflow docs`; do not edit by hand
(a test fails when this file is stale).

Templates receive one variable, `dag` (a `DagSpec`). Every value is plain data decided by the
analyzer; write values into the DAG file only through the `py` filter (a Python literal) or
`pydict` (a dict literal of (key, value) pairs). Strings that reach templated operator fields are
already escaped for Airflow's Jinja. Names written as code (variables, keyword arguments,
imports) go through `ident` (`idents` for a comma-separated list, `dotted` for a module path),
which fail the render for anything that is not exactly a Python identifier; task and sensor
`var` fields are valid identifiers. Comments too print values only through `py`, so that no
value can end a comment (`tests/test_escaping.py` fails for a template that prints otherwise).

Override one block at a time: a `dag.py.jinja` in your template folder (`--template-dir DIR`
or `template_dir:` in `mfairflow.yaml`) is found before the packaged one, and can start with
`{% extends "mfairflow/dag.py.jinja" %}` (the packaged templates are always reachable under the
`mfairflow/` prefix) and replace only the blocks it names, calling `{{ super() }}` to keep the
default text. `mfairflow templates export DIR` copies the packaged templates to start from.
Blocks of `dag.py.jinja`: `header`, `imports`, `constants`, `helpers`, `dag_args`,
`default_args`, `sensors`, `tasks`, `dependencies`, `footer`. Operator macros live in
`operators/kubernetes.py.jinja` and `operators/local.py.jinja` (`imports`, `constants`,
`helpers`, `task`; a step becomes one call of the `metaflow_step` helper), the arguments
every target's step call shares in `step.py.jinja` (`run_args`, `task_args`), sensors in
`sensors.py.jinja`; override those files whole.
"""


def render_template_docs() -> str:
    """The markdown text of docs/templates.md."""
    tree = ast.parse(MODEL_FILE.read_text())
    parts = [HEADER]
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and _is_dataclass(node):
            parts.append(_class_doc(node))
    return "\n".join(parts)


def _is_dataclass(node: ast.ClassDef) -> bool:
    return any(
        (isinstance(d, ast.Call) and getattr(d.func, "id", "") == "dataclass")
        or getattr(d, "id", "") == "dataclass"
        for d in node.decorator_list
    )


def _class_doc(node: ast.ClassDef) -> str:
    lines = [f"## `{node.name}`", "", (ast.get_docstring(node) or "").strip(), ""]
    lines += ["| field | type | meaning |", "|---|---|---|"]
    body = node.body
    for i, item in enumerate(body):
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            doc = ""
            following = body[i + 1] if i + 1 < len(body) else None
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                doc = " ".join(following.value.value.split())
            annotation = ast.unparse(item.annotation).replace("|", "\\|")
            lines.append(f"| `{item.target.id}` | `{annotation}` | {doc} |")
    for item in body:
        if isinstance(item, ast.FunctionDef) and any(
            getattr(d, "id", "") == "property" for d in item.decorator_list
        ):
            doc = " ".join((ast.get_docstring(item) or "").split())
            returns = ast.unparse(item.returns) if item.returns else ""
            lines.append(f"| `{item.name}` (property) | `{returns}` | {doc} |")
    return "\n".join(lines) + "\n"
