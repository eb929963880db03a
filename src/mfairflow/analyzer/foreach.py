"""Foreach bodies of any length and depth → Airflow dynamic task mapping.

A body is a chain of steps from a foreach to its join. Every body step is mapped over the
foreach's splits; a nested foreach's body is mapped over all (outer, inner) pairs at once: a
small *splits* task collects the inner split lists of every outer instance into one flat list,
and the inner join (one instance per outer instance) reads its own slice of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CompileError
from .context import FlowContext


@dataclass(frozen=True)
class Mapping:
    """How one body step is mapped."""

    level: int
    """Foreach depth: 1 inside one foreach, 2 inside a nested one, ..."""
    foreach: str
    """The foreach step whose body this step belongs to."""
    first: bool
    """First step of the body: it takes the split arguments (split index, at depth > 1 also the
    input path of its outer instance)."""


def foreach_mappings(ctx: FlowContext) -> dict[str, Mapping]:
    """Every mapped step of the flow, validated (a body is linear steps and nested foreaches)."""
    graph = ctx.graph
    result: dict[str, Mapping] = {}

    def walk(foreach: str, level: int) -> str:
        step, first = graph[foreach].out_funcs[0], True
        while True:
            node = graph[step]
            if node.type == "join" and node.split_parents and node.split_parents[-1] == foreach:
                return step
            if node.type not in ("linear", "foreach"):
                raise CompileError(
                    f"step {step!r} inside the foreach of step {foreach!r} is a {node.type} "
                    "step; a foreach body must be a chain of linear steps (and nested foreaches)",
                    hint="move the branches into a step of their own after the foreach's join, "
                    "or compute them inside one body step",
                    step=step,
                    location=ctx.step_location(step),
                )
            result[step] = Mapping(level, foreach, first)
            first = False
            if node.type == "foreach":
                join = walk(step, level + 1)
                result[join] = Mapping(level, foreach, False)
                step = graph[join].out_funcs[0]
            else:
                step = node.out_funcs[0]

    for name in graph.sorted_nodes:
        node = graph[name]
        if node.type == "foreach" and not node.is_inside_foreach:
            walk(name, 1)
    return result
