"""No line of a generated DAG needs scrolling (issue 13, item 10), and nothing changes for it.

A long string literal (Metaflow's bootstrap commands: the code package download loop alone is
about 400 characters) is written as implicitly concatenated parts, split between shell commands
(`; `, ` && `), at line ends or at spaces, inside parentheses so that black puts one part per
line. Python joins the parts back at compile time: the DAG's values, and so the shell text the
pods run, are exactly the unsplit strings.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from conftest import FLOWS, compile_flow
from dag_inspect import base_container, load_dag, pod_manifest, pod_operators, write_kubeconfig
from hypothesis import given, settings
from hypothesis import strategies as st

from mfairflow.render import PART_LENGTH, py_literal

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = sorted((ROOT / "snapshots").rglob("*.py"))
MAX_LINE = 120

shellish = st.lists(
    st.one_of(
        st.sampled_from(["; ", " && ", " || ", "\n", " ", "'", '"', "\\", "{{ x }}", "\r"]),
        st.text(max_size=30),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=shellish)
def test_a_split_literal_is_exactly_the_value_on_one_line(value):
    source = py_literal(value)
    assert ast.literal_eval(source) == value
    # One line for Python's tokenizer and for str.splitlines: safe inside a comment as well.
    assert len(source.splitlines()) == 1 and "\n" not in source and "\r" not in source


def test_a_long_command_is_split_between_commands():
    command = "; ".join(f"echo step {i} of the bootstrap && true" for i in range(12))
    source = py_literal(command)
    parts = [ast.literal_eval(t.string) for t in string_tokens(source)]
    assert len(parts) > 1 and "".join(parts) == command
    assert all(len(repr(part)) <= PART_LENGTH for part in parts)
    assert all(part.endswith(("; ", " && ")) for part in parts[:-1])


def string_tokens(source: str) -> list:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [t for t in tokens if t.type == tokenize.STRING]


def unbreakable(line: str) -> bool:
    """A line that is long only because of one string token with no place to split it (no
    space, no line end: a URL, a path), such as `"KEY": "s3://.../<sha>",`."""
    try:
        tokens = string_tokens(line.strip())
    except (SyntaxError, tokenize.TokenError):
        return False
    for token in tokens:
        value = ast.literal_eval(token.string)
        if len(line) - len(token.string) <= MAX_LINE // 2 and not re.search(r"\s", value):
            return True
    return False


def test_no_snapshot_line_is_longer_than_120_characters():
    assert len(SNAPSHOTS) >= 20
    long_lines = [
        f"{path.relative_to(ROOT)}:{number}: {line[:80]}..."
        for path in SNAPSHOTS
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if len(line) > MAX_LINE and not unbreakable(line)
    ]
    assert long_lines == []


def model_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in model_strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in model_strings(v)]
    return []


def test_split_values_in_the_loaded_dag_are_the_unsplit_strings(tmp_path):
    import yaml

    model = tmp_path / "model.yaml"
    result = compile_flow(FLOWS / "production_ml_flow.py", tmp_path, "--emit-model", str(model))
    assert result.proc.returncode == 0, result.proc.stderr[-3000:]
    source = result.dag_path.read_text()
    constants = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    spec = yaml.safe_load(model.read_text())
    long_values = [s for s in model_strings(spec) if len(repr(s)) > 2 * PART_LENGTH]
    assert len(long_values) >= 3  # the bootstrap commands, at least
    assert [s for s in long_values if s not in constants] == []
    assert [x for x in source.splitlines() if len(x) > MAX_LINE and not unbreakable(x)] == []
    # The shell text a pod runs holds each bootstrap command whole.
    dag = load_dag(result.dag_path)
    start = pod_operators(dag)["start"]
    start.kubernetes_conn_id = None
    script = base_container(pod_manifest(start, write_kubeconfig(tmp_path)))["command"][2]
    bootstrap = spec["runtime"]["bootstrap"]
    assert bootstrap and all(command in script for command in bootstrap if "{{" not in command)


def test_a_long_dag_id_still_clashes(tmp_path):
    """A DAG id has no spaces, so it is never split; the clash scan would read it if it were."""
    import black

    from mfairflow.render import dag_id_clash

    dag_id = "a.very-long_dag-id." * 12
    header = "# Airflow DAG for the Metaflow flow 'F',\n# generated by 'mfairflow 0.1.0'.\n"
    source = black.format_str(f"{header}DAG_ID = {py_literal(dag_id)}\n", mode=black.Mode())
    assert "DAG_ID = " + repr(dag_id).replace("'", '"') in source
    (tmp_path / "other_dag.py").write_text(source)
    assert dag_id_clash(str(tmp_path / "mine.py"), dag_id) == "other_dag.py"
    assert dag_id_clash(str(tmp_path / "mine.py"), dag_id + "x") is None
