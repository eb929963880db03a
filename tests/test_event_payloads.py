"""Event payloads mapped to parameters (issue 21.9): checked and converted by the parameter's
type when the start task renders, or a clear failure of that run naming the event's field and
the parameter; nothing of a payload is ever evaluated by Jinja or a shell.

Before, the DAG's trigger_value macro handed the payload's value to Jinja as it was: an int
parameter given "1; touch x" or a value holding a NUL or 200 KB broke the run at `init`, and a
dict reached a str parameter as its Python repr.

The conversion is Python the DAG file carries (its helpers ``trigger_value``,
``event_param_text`` and ``param_text``): tested here as functions of a generated DAG loaded
by Airflow 3's DagBag, then through Airflow's own templating of the start task on Airflow 3 and
2.10 (tests/event_render_probe.py), and with `airflow dags test` through Metaflow's `init`.
"""

from __future__ import annotations

import json
import os
import reprlib
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, compile_flow
from dag_inspect import load_dag

FLOW = ROOT / "tests" / "e2e_flows" / "event_types_flow.py"
PROBE = ROOT / "tests" / "event_render_probe.py"
HOSTILE = "{{ 7*7 }} {% raw %}x $(touch MARKER) `touch MARKER` 'q' \"dq\" \\ ; rm -rf /"
NESTED = "[" * 100_000 + "]" * 100_000

# (parameter type, payload value, the text init reads, or None: the run fails)
CASES = [
    ("int", 7, "7"),
    ("int", "12", "12"),
    ("int", 3.0, "3"),
    ("int", 10**30, str(10**30)),
    ("int", "1; touch x", None),
    ("int", 3.5, None),
    ("int", True, None),
    ("int", None, None),
    ("int", [1], None),
    ("int", "1e3", None),
    ("float", 1.5, "1.5"),
    ("float", 2, "2.0"),
    ("float", "1e3", "1000.0"),
    ("float", "nan", None),
    ("float", float("inf"), None),
    ("float", "1.5; id", None),
    ("float", False, None),
    ("bool", True, "True"),
    ("bool", "FALSE", "False"),
    ("bool", 1, None),
    ("bool", "yes", None),
    ("str", "hello", "hello"),
    ("str", HOSTILE, HOSTILE),
    ("str", {"a": 1, "b": [2]}, '{"a": 1, "b": [2]}'),  # its JSON text, never a Python repr
    ("str", [1, "b"], '[1, "b"]'),
    ("str", 5, "5"),
    ("str", True, "true"),
    ("str", None, None),
    ("str", "a\x00b", None),
    ("str", "x" * 200_000, None),
    ("str", "é" * 32_768, "é" * 32_768),  # 64 KiB of UTF-8
    ("str", "é" * 32_769, None),
    ("str", "\ud800", None),  # a lone surrogate: no environment can carry it
    ("json", {"k": [1, None]}, '{"k": [1, null]}'),
    ("json", '{"k": 2}', '{"k": 2}'),
    ("json", "[1, 2]", "[1, 2]"),
    ("json", HOSTILE, None),
    ("json", NESTED, None),
    ("json", {"x": float("nan")}, None),
    ("json", '"a\\u0000b"', '"a\\u0000b"'),  # a NUL inside JSON text is escaped there
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("events")
    result = compile_flow(FLOW, tmp)
    assert result.proc.returncode == 0, result.proc.stderr
    return result


@pytest.fixture(scope="module")
def helpers(compiled):
    """The DAG file's own globals (its helper functions), as Airflow 3's DagBag loaded it."""
    dag = load_dag(compiled.dag_path)
    return dag.user_defined_macros["trigger_value"].__globals__


@pytest.mark.parametrize(("kind", "value", "text"), CASES, ids=lambda v: repr(v)[:30])
def test_payload_values_are_checked_and_converted_by_type(helpers, kind, value, text):
    convert = helpers["event_param_text"]
    source = "field 'f' of event 'data.ready' for parameter 'p'"
    if text is not None:
        assert convert(kind, value, source) == text
        return
    with pytest.raises(helpers["AirflowFailException"]) as failed:
        convert(kind, value, source)
    message = str(failed.value)
    assert message.startswith(source + ": ") and message.endswith("; the run does not start")
    assert len(message) < 300  # the value is shown shortened, never whole


def test_the_newest_event_with_the_field_wins_else_the_params_own_value(helpers):
    import datetime
    import types

    def event(extra, minute):
        stamp = datetime.datetime(2026, 1, 1, 0, minute, tzinfo=datetime.timezone.utc)
        return types.SimpleNamespace(extra=extra, timestamp=stamp)

    class Asset:  # what asset_name reads of an Airflow 3 Asset
        name = "data.ready"

    asset = Asset()
    events = {asset: [event({"count": 1}, 5), event({"count": "2"}, 9), event({}, 10)]}
    trigger_value = helpers["trigger_value"]
    assert trigger_value("count", 0, events) == "2"
    assert trigger_value("ratio", 0.5, events) == "0.5"  # not in any extra: the param's value
    assert trigger_value("spec", {"k": [1]}, events) == '{"k": [1]}'
    assert trigger_value("flag", False, {}) == "False"
    with pytest.raises(helpers["AirflowFailException"], match=r"^parameter 'word': "):
        trigger_value("word", "a\x00", {})


def payload_cases() -> tuple[list, list]:
    """Event extras for the render probe, and what each must render to (None: a failure)."""
    good = {"count": "42", "ratio": 2, "flag": "true", "word": HOSTILE, "spec": '{"k": [7]}'}
    expected_env = {
        "METAFLOW_INIT_COUNT": "42",
        "METAFLOW_INIT_RATIO": "2.0",
        "METAFLOW_INIT_FLAG": "True",
        "METAFLOW_INIT_WORD": HOSTILE,
        "METAFLOW_INIT_SPEC": '{"k": [7]}',
    }
    defaults = {
        "METAFLOW_INIT_COUNT": "1",
        "METAFLOW_INIT_RATIO": "0.5",
        "METAFLOW_INIT_FLAG": "False",
        "METAFLOW_INIT_WORD": "none",
        "METAFLOW_INIT_SPEC": '{"k": [1]}',
    }
    extras = [
        good,
        {"word": {"nested": ["x"]}},
        {},
        {"count": "1; touch MARKER"},
        {"word": "a\x00b"},
        {"word": "w" * 200_000},
    ]
    expected = [
        expected_env,
        {**defaults, "METAFLOW_INIT_WORD": '{"nested": ["x"]}'},
        defaults,
        "field 'count' of event 'data.ready' for parameter 'count': '1; touch MARKER' is not "
        "an integer; the run does not start",
        "field 'word' of event 'data.ready' for parameter 'word': 'a\\x00b' holds a NUL",
        "field 'word' of event 'data.ready' for parameter 'word': "
        f"{reprlib.repr('w' * 200_000)} is longer than 64 KiB (200000 bytes)",
    ]
    return extras, expected


@pytest.mark.parametrize("version", ["airflow3", "airflow2"])
def test_the_start_task_renders_payloads_with_airflows_own_templating(compiled, tmp_path, version):
    """Airflow's templating of the start task (a KubernetesPodOperator's env_vars): a payload's
    Jinja and shell text arrive as text, a value that does not fit fails the task with
    AirflowFailException (which Airflow does not retry)."""
    python = sys.executable if version == "airflow3" else os.environ.get("MFAIRFLOW_AF2_PYTHON")
    assert python, "MFAIRFLOW_AF2_PYTHON must name the Airflow 2.10 python (make install-af2)"
    extras, expected = payload_cases()
    proc = subprocess.run(
        [os.path.abspath(python), str(PROBE), str(compiled.dag_path), "data.ready"],
        input=json.dumps(extras),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "METAFLOW_"))},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.splitlines()[-1])  # (Airflow may log before it)
    for result, want in zip(results, expected):
        if isinstance(want, dict):
            assert result == {"env": want}
        else:
            assert result["error"][0] == "AirflowFailException", result
            assert want in result["error"][1], result
    assert not list(Path(tmp_path).rglob("MARKER"))


@pytest.mark.e2e
def test_the_converted_texts_are_what_metaflows_init_reads(tmp_path):
    """`airflow dags test` (Airflow 3, --target local): a manual run's conf goes through the
    same conversion (no event started it), and Metaflow's `init` reads every type back."""
    from test_e2e_local import LocalAirflow

    airflow = LocalAirflow(tmp_path / "airflow")
    try:
        deployed = airflow.deploy("event_types_flow.py")
        conf = {"count": 3, "ratio": 2, "flag": True, "word": HOSTILE, "spec": {"k": [2]}}
        code, log, _ = deployed.dags_test(conf)
        assert code == 0, log[-5000:]
        run = deployed.probe()
    finally:
        airflow.close()
    assert run["successful"], run
    start = run["steps"]["start"][0]["artifacts"]
    assert start["got"] == repr([3, 2.0, True, HOSTILE, {"k": [2]}])
    assert start["types"] == repr(["int", "float", "bool", "str", "dict"])
    assert not list(tmp_path.rglob("MARKER"))
