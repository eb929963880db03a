"""What the analyzer reads: the flow as Metaflow has loaded it, and where it came from."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class FlowContext:
    """The Metaflow objects of one `python flow.py ...` invocation."""

    flow: Any
    """The FlowSpec instance."""
    graph: Any
    """metaflow.graph.FlowGraph of the flow (after mutators)."""
    flow_datastore: Any
    metadata: Any
    environment: Any
    flow_file: str
    """Path of the flow file as given on the command line."""
    username: str

    @property
    def flow_name(self) -> str:
        """The flow's class name."""
        return self.flow.name

    def step_location(self, step: str) -> Optional[str]:
        """``file:line`` of a step's definition, when Metaflow knows it."""
        node = self.graph[step]
        source = getattr(node, "source_file", None) or self.flow_file
        line = getattr(node, "func_lineno", None)
        return f"{os.path.basename(source)}:{line}" if line else os.path.basename(source)

    def flow_location(self) -> str:
        """``file:line`` of the flow class (where flow decorators sit)."""
        try:
            _, line = inspect.getsourcelines(self.flow.__class__)
        except (OSError, TypeError):
            return os.path.basename(self.flow_file)
        return f"{os.path.basename(self.flow_file)}:{line}"

    def flow_decorators(self, name: str) -> list:
        """The flow decorators called ``name``, in declaration order."""
        decos = getattr(self.flow, "_flow_decorators", {}) or {}
        return list(decos.get(name) or [])

    def step_decorator(self, step: str, name: str):
        """The step's decorator called ``name``, or None."""
        for deco in self.graph[step].decorators:
            if deco.name == name:
                return deco
        return None
