"""The DAG's description and doc_md, from the flow's docstring."""

from __future__ import annotations

from typing import Optional

MAX_MAP_NOTE = (
    "Each foreach runs as Airflow dynamic task mapping: a foreach wider than Airflow's "
    "`[core] max_map_length` (1024 by default) fails at run time; raise that setting for wider "
    "foreaches."
)


def dag_doc(doc: Optional[str], has_foreach: bool) -> Optional[str]:
    """The DAG's doc_md: the flow docstring when it says more than its first line, plus a note
    on Airflow's mapping limit for flows with a foreach."""
    parts = []
    if doc and len(doc.strip().splitlines()) > 1:
        parts.append(doc.strip())
    if has_foreach:
        parts.append(MAX_MAP_NOTE)
    return markdown_text("\n\n".join(parts)) or None


def markdown_text(doc: Optional[str]) -> Optional[str]:
    """A doc_md value Airflow shows as text: one ending in ".md" would be read as a file name."""
    if doc and doc.rstrip().endswith(".md"):
        return doc + "\n"
    return doc


def first_line(doc: Optional[str]) -> Optional[str]:
    """The first non-empty line of a docstring (the DAG's description)."""
    if not doc:
        return None
    return doc.strip().splitlines()[0].strip() or None
