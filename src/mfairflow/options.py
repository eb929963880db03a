"""The options of `airflow create`, as one immutable value handed to the analyzer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

TARGETS = ("kubernetes", "local")


@dataclass(frozen=True)
class CreateOptions:
    """What the user asked for on the command line (defaults as in the user guide)."""

    dag_file: str
    name: Optional[str] = None
    max_workers: int = 100
    workflow_timeout: Optional[int] = None
    worker_pool: Optional[str] = None
    tags: Tuple[str, ...] = ()
    is_paused_upon_creation: bool = False
    namespace: Optional[str] = None
    generate_new_token: bool = False
    new_token: Optional[str] = None
    authorize: Optional[str] = None
    offline: bool = False
    target: str = "kubernetes"
    config_file: Optional[str] = None
    template_dir: Optional[str] = None
    check: bool = False
    emit_model: Optional[str] = None
    ignore_code_address: bool = False
    """--check: compare without the code package's content address."""
