"""The linear-time loop check agrees with Metaflow's own check_for_acyclicity."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass, field

from conftest import clean_env
from hypothesis import given, settings
from hypothesis import strategies as st
from metaflow import lint

from mfairflow.lint import has_loop, linear_loop_check


@dataclass
class Node:
    name: str
    out_funcs: list
    type: str = "linear"
    tail_next_lineno: int = 1
    source_file: str = "flow.py"
    in_funcs: list = field(default_factory=list)


class Graph:
    def __init__(self, edges: dict, switches=()):
        self.nodes = {
            name: Node(name, list(out), "split-switch" if name in switches else "linear")
            for name, out in edges.items()
        }

    def __getitem__(self, name):
        return self.nodes[name]

    def __iter__(self):
        return iter(self.nodes.values())


def metaflow_finds_loop(graph) -> bool:
    try:
        lint.check_for_acyclicity(graph)
    except lint.LintWarn:
        return True
    return False


def test_known_shapes():
    linear = Graph({"start": ["a"], "a": ["end"], "end": []})
    diamond = Graph({"start": ["a", "b"], "a": ["join"], "b": ["join"], "join": ["end"], "end": []})
    loop = Graph({"start": ["a"], "a": ["b"], "b": ["a", "end"], "end": []})
    self_loop = Graph({"start": ["a"], "a": ["a"], "end": []})
    switch_self = Graph({"start": ["a"], "a": ["a", "end"], "end": []}, switches={"a"})
    for graph, expected in (
        (linear, False),
        (diamond, False),
        (loop, True),
        (self_loop, True),
        (switch_self, False),
    ):
        assert has_loop(graph) is expected
        assert metaflow_finds_loop(graph) is expected


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.integers(min_value=1, max_value=7).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.lists(st.integers(min_value=0, max_value=n - 1), max_size=3),
                min_size=n,
                max_size=n,
            ),
            st.sets(st.integers(min_value=0, max_value=n - 1)),
        )
    )
)
def test_agrees_with_metaflow_on_random_graphs(case):
    n, outs, switches = case
    graph = Graph(
        {f"s{i}": [f"s{j}" for j in outs[i]] for i in range(n)},
        switches={f"s{i}" for i in switches},
    )
    assert has_loop(graph) == metaflow_finds_loop(graph)


def test_context_restores_metaflow_linter():
    before = list(lint.linter._checks)
    with linear_loop_check():
        assert lint.check_for_acyclicity not in lint.linter._checks
        assert len(lint.linter._checks) == len(before)
    assert lint.linter._checks == before


def test_a_loop_is_reported_with_metaflows_message(tmp_path):
    flow = tmp_path / "loop_flow.py"
    flow.write_text(textwrap.dedent("""
            from metaflow import FlowSpec, step


            class LoopFlow(FlowSpec):
                @step
                def start(self):
                    self.next(self.a)

                @step
                def a(self):
                    self.next(self.b)

                @step
                def b(self):
                    self.next(self.a)

                @step
                def end(self):
                    pass


            if __name__ == "__main__":
                LoopFlow()
            """))
    dag = tmp_path / "loop_dag.py"
    dag.write_text("# an existing DAG file\n")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, flow.name, *args],
            cwd=tmp_path,
            env=clean_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
        )

    def loop_message(proc: subprocess.CompletedProcess) -> str:
        lines = [line for line in proc.stderr.splitlines() if "There is a loop" in line]
        assert len(lines) == 1, proc.stderr
        return lines[0]

    create = run("airflow", "create", dag.name, "--offline")
    assert create.returncode != 0
    assert "Traceback" not in create.stderr
    assert dag.read_text() == "# an existing DAG file\n"
    # The same message (path and line) as Metaflow's own `check` gives.
    assert loop_message(create) == loop_message(run("check"))
    assert "on line 12" in create.stderr
