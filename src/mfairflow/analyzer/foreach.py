"""Foreach bodies of any shape and depth → Airflow dynamic task mapping.

A body is every step from a foreach to its join (chains, static splits and their joins,
switches and their cases). Every body step is mapped over the foreach's splits, each instance
reading the instance of the same split of its parents. A nested foreach's body is mapped over
all (outer, inner) pairs at once: a small *splits* task collects the inner split lists of every
outer instance into one flat list, and the inner join (one instance per outer instance) reads
its own slice of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CompileError
from .context import FlowContext

BODY_STEP_TYPES = ("linear", "foreach", "split", "join", "split-switch")


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
    """Every mapped step of the flow, validated.

    A body holds linear steps, static splits with their joins, switches with their cases and
    nested foreaches; every one of its steps is mapped over the same splits.
    """
    graph = ctx.graph
    result: dict[str, Mapping] = {}

    def walk(foreach: str, level: int) -> str:
        end = graph[foreach].matching_join
        first_step = graph[foreach].out_funcs[0]
        pending = [first_step]
        while pending:
            step = pending.pop()
            if step == end or step in result:
                continue
            node = graph[step]
            if node.type not in BODY_STEP_TYPES:
                raise CompileError(
                    f"step {step!r} inside the foreach of step {foreach!r} is a {node.type} "
                    "step; a foreach body must be made of linear steps, static splits, "
                    "switches and nested foreaches",
                    hint="move the step after the foreach's join, or compute it inside one "
                    "body step",
                    step=step,
                    location=ctx.step_location(step),
                )
            result[step] = Mapping(level, foreach, step == first_step)
            if node.type == "foreach":
                join = walk(step, level + 1)
                result[join] = Mapping(level, foreach, False)
                pending.extend(graph[join].out_funcs)
            else:
                pending.extend(node.out_funcs)
        return end

    for name in graph.sorted_nodes:
        node = graph[name]
        if node.type == "foreach" and not node.is_inside_foreach:
            walk(name, 1)
    return result
