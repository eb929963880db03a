"""Metaflow's graph lint, with its loop check made linear.

`python flow.py airflow create` validates the flow with Metaflow's own linter, as every
Metaflow command does. One of its checks, ``check_for_acyclicity``, walks every path of the
graph and copies the path at each step: quadratic on a linear flow (4 s of 18 s on 1000 steps)
and exponential on a chain of branches. Here the same check runs first as one depth-first
search; only when that search finds a loop does Metaflow's own check run, so that the user gets
Metaflow's exact message (and line) for it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


def has_loop(graph) -> bool:
    """True if the step graph has a cycle (a switch may point at itself, as Metaflow allows),
    or names a step that does not exist."""
    white, grey, black = 0, 1, 2
    names = [node.name for node in graph]
    colour = dict.fromkeys(names, white)

    def successors(name: str) -> list:
        node = graph[name]
        return [n for n in node.out_funcs if not (node.type == "split-switch" and n == name)]

    for root in names:
        if colour[root] != white:
            continue
        colour[root] = grey
        stack = [(root, iter(successors(root)))]
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[name] = black
                stack.pop()
            elif child not in colour or colour[child] == grey:
                return True
            elif colour[child] == white:
                colour[child] = grey
                stack.append((child, iter(successors(child))))
    return False


@contextmanager
def linear_loop_check() -> Iterator[None]:
    """Within the block, Metaflow's linter checks for loops in linear time (see module doc)."""
    from metaflow import lint

    original = lint.check_for_acyclicity
    checks = lint.linter._checks
    if original not in checks:  # another Metaflow version: leave its linter alone
        yield
        return

    def check_for_acyclicity(graph) -> None:
        if has_loop(graph):
            original(graph)

    check_for_acyclicity.attrs = original.attrs
    saved = list(checks)
    checks[checks.index(original)] = check_for_acyclicity
    try:
        yield
    finally:
        checks[:] = saved
