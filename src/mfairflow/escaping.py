"""Make user-controlled strings safe for the two interpreters between a flow and a pod.

Every string that crosses from a flow into the generated DAG passes through Airflow's Jinja
(operator fields are templated) and, for step commands, through bash. These helpers turn a value
into text that both render back to exactly the original value. Writing the value into Python
source is the template's `py` filter's job (see render.py).
"""

from __future__ import annotations

import re
import shlex

# Suffixes that make Airflow load a templated string as a template *file*
# (template_ext of the operators we generate: KubernetesPodOperator, bash, sql sensors).
_TEMPLATE_FILE_SUFFIXES = (".yaml", ".yml", ".json", ".sh", ".bash", ".sql", ".hql")
_JINJA_SYNTAX = re.compile(r"\{[{%#]|[\r]")


def needs_airflow_escape(value: str, *, whole_field: bool = True) -> bool:
    """True when Airflow's Jinja rendering would not return ``value`` unchanged."""
    if _JINJA_SYNTAX.search(value) or value.endswith("\n"):
        return True
    return whole_field and value.endswith(_TEMPLATE_FILE_SUFFIXES)


def airflow_literal(value: str, *, whole_field: bool = True) -> str:
    """Text that Airflow's Jinja renders back to exactly ``value``.

    Ordinary strings are returned unchanged so that the DAG stays readable. Anything Jinja would
    interpret (``{{``, ``{%``, ``{#``), change (carriage returns, a trailing newline) or load as a
    template file (a ``.json``/``.yaml``/... suffix) becomes a Jinja string-literal expression,
    ``{{ "..." }}``, whose content is escaped so that Jinja's own unescaping restores the value.
    """
    if not needs_airflow_escape(value, whole_field=whole_field):
        return value
    body = value.encode("unicode_escape").decode("ascii")
    for char, escape in (('"', "\\x22"), ("'", "\\x27"), ("{", "\\x7b"), ("}", "\\x7d")):
        body = body.replace(char, escape)
    return '{{ "' + body + '" }}'


def templated(operator: str, field: str) -> bool:
    """True when Airflow renders ``operator``'s argument ``field`` (or, for a Kubernetes
    object class such as ``V1EnvVar``, that field of it) with Jinja, on any supported Airflow.

    Read from the table generated from the operators' own ``template_fields``
    (airflow_fields.py, scripts/template_fields.py), never from a hand-kept list.
    """
    from .airflow_fields import NESTED_TEMPLATE_FIELDS, TEMPLATE_FIELDS

    fields = TEMPLATE_FIELDS.get(operator) or NESTED_TEMPLATE_FIELDS.get(operator)
    if fields is None:
        raise KeyError(f"no template fields known for {operator!r} (regenerate the table)")
    return field in fields


def for_field(operator: str, field: str, value: str) -> str:
    """``value`` as it must be written into ``operator``'s argument ``field``: escaped for
    Airflow's Jinja when that field is templated, unchanged when it is not."""
    return airflow_literal(value) if templated(operator, field) else value


def shell_word(value: str) -> str:
    """One shell word for ``value``, safe inside a templated command string."""
    return airflow_literal(shlex.quote(value), whole_field=False)


def shell_words(values: list[str] | tuple[str, ...]) -> str:
    """Shell words for several values, joined by spaces."""
    return " ".join(shell_word(v) for v in values)


def python_identifier(name: str, taken: set[str]) -> str:
    """A Python variable name for ``name`` that is not in ``taken`` (and adds it to ``taken``)."""
    base = re.sub(r"\W", "_", name, flags=re.ASCII) or "task"
    if base[0].isdigit():
        base = "_" + base
    candidate = base
    counter = 2
    while candidate in taken or not candidate.isidentifier():
        candidate = f"{base}_{counter}"
        counter += 1
    taken.add(candidate)
    return candidate


def unique_name(candidate: str, taken: set[str]) -> str:
    """``candidate``, or ``candidate_2``, ``_3``... the first not in ``taken`` (then taken)."""
    base, counter = candidate, 2
    while candidate in taken:
        candidate = f"{base}_{counter}"
        counter += 1
    taken.add(candidate)
    return candidate
