"""Issue 17: a foreach or static split inside a switch case, a switch inside a foreach body
and a static split inside a foreach body, each run end to end with `--target local` and
compared with a local Metaflow run: artifacts, foreach stacks and the tasks each task read."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
from test_e2e_local import LocalAirflow, artifacts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    airflow = LocalAirflow(tmp_path_factory.mktemp("airflow-shapes"))
    yield airflow
    airflow.close()


def in_any_order(found: dict, names: tuple[str, ...]) -> dict:
    """The artifacts of `artifacts()` with the list artifacts `names` sorted."""
    if not names:
        return found
    return {
        step: [
            (
                stack,
                {
                    name: repr(sorted(ast.literal_eval(value))) if name in names else value
                    for name, value in values.items()
                },
            )
            for stack, values in tasks
        ]
        for step, tasks in found.items()
    }


def run_and_compare(
    deployed, conf: dict, local_args: tuple = (), unordered: tuple[str, ...] = ()
) -> dict:
    """Run the DAG with conf, run the flow locally with the same parameters, compare both.

    The local run overlaps the Airflow run (both mostly wait on step processes); one probe
    process reads both runs and their lineage afterwards.

    `unordered`: list artifacts built from a join's inputs whose order the local runtime leaves
    to chance (a foreach join reached from several switch cases: Metaflow's local runtime walks
    the join's parents as a set), so they are compared as multisets."""
    local_run = deployed.start_local_run(*local_args)
    try:
        code, log, _ = deployed.dags_test(conf)
        assert code == 0, log[-5000:]
        assert "Traceback" not in log, log[-5000:]
        local_run_id = local_run.finish()
    finally:
        local_run.stop()
    found = deployed.probe_pair(local_run_id)
    in_airflow, local = found["airflow"], found["local"]
    assert in_airflow["successful"], in_airflow
    assert in_any_order(artifacts(in_airflow), unordered) == in_any_order(
        artifacts(local), unordered
    )
    assert found["airflow_lineage"] == found["local_lineage"]
    return in_airflow


def test_switch_case_holding_a_foreach_or_a_split(airflow):
    deployed = airflow.deploy("switch_foreach_flow.py")
    source = deployed.dag_file.read_text()
    assert "start_choice = BranchPythonOperator(" in source
    # The merge reads the join of the fan-out case, the pair join or the linear case.
    # Long literals are written as implicitly concatenated parts, one per line: read them joined.
    joined = re.sub(r"[\"']\s*\n\s*[\"']", "", source)
    assert "{'fan': 'gather', 'pair': 'pair_join', 'plain': 'plain'}" in joined
    every_case = {"fan", "square", "gather", "pair", "left", "right", "pair_join", "plain"}
    for mode, width, ran, result in (
        ("fan", 4, {"fan", "square", "gather"}, [0, 1, 4, 9]),
        ("pair", 2, {"pair", "left", "right", "pair_join"}, ["left", "right"]),
        ("plain", 2, {"plain"}, "plain"),
    ):
        run = run_and_compare(
            deployed, {"mode": mode, "width": width}, ("--mode", mode, "--width", str(width))
        )
        assert set(run["steps"]) & every_case == ran
        assert run["steps"]["merge"][0]["artifacts"]["final"] == repr(repr(result))
        if mode == "fan":
            assert [t["stack"] for t in run["steps"]["square"]] == [[i] for i in range(width)]


def test_switch_inside_a_foreach_chooses_per_split(airflow):
    deployed = airflow.deploy("foreach_switch_flow.py")
    source = deployed.dag_file.read_text()
    assert "BranchPythonOperator" not in source
    assert 'pre_execute=run_if_chosen("per_number", "even")' in source
    for width in (5, 2):
        run = run_and_compare(deployed, {"width": width}, ("--width", str(width)))
        evens = [i for i in range(width) if i % 2 == 0]
        odds = [i for i in range(width) if i % 2]
        assert [t["stack"] for t in run["steps"]["even_again"]] == [[i] for i in evens]
        assert [t["stack"] for t in run["steps"]["odd"]] == [[i] for i in odds]
        assert [t["stack"] for t in run["steps"]["merge"]] == [[i] for i in range(width)]
        labels = [f"{i} IS EVEN (TWICE)" if i % 2 == 0 else f"{i} IS ODD" for i in range(width)]
        assert run["steps"]["join"][0]["artifacts"]["labels"] == repr(labels)


@pytest.mark.parametrize("width", [1, 4])
def test_static_split_inside_a_foreach_body(airflow, width):
    deployed = airflow.deploy("foreach_split_flow.py")
    run = run_and_compare(deployed, {"width": width}, ("--width", str(width)))
    words = [chr(ord("a") + i) * (i + 1) for i in range(width)]
    parts = [sorted([str(len(w)), w + "!", w.upper()]) for w in words]
    assert run["steps"]["join"][0]["artifacts"]["all"] == repr(parts)
    assert [t["stack"] for t in run["steps"]["combine"]] == [[i] for i in range(width)]


def test_switch_holding_a_split_inside_a_nested_foreach(airflow):
    deployed = airflow.deploy("nested_shapes_flow.py")
    source = deployed.dag_file.read_text()
    assert 'pre_execute=run_if_chosen("per_item", "even_split")' in source
    for sizes in ("2,3", "1,1,2"):
        run = run_and_compare(deployed, {"sizes": sizes}, ("--sizes", sizes))
        groups = [int(size) for size in sizes.split(",")]
        pairs = [[g, i] for g, size in enumerate(groups) for i in range(size)]
        assert [t["stack"] for t in run["steps"]["merge_item"]] == pairs
        expected = [
            [
                f"a{g * 10 + i}+b{g * 10 + i}" if (g * 10 + i) % 2 == 0 else f"odd{g * 10 + i}"
                for i in range(size)
            ]
            for g, size in enumerate(groups)
        ]
        assert run["steps"]["join_groups"][0]["artifacts"]["all"] == repr(expected)


def test_switch_whose_cases_meet_in_the_foreach_join(airflow):
    # The shape of Metaflow's own switch_in_foreach test graph.
    deployed = airflow.deploy("foreach_switch_join_flow.py")
    for kinds, results in (
        ("a,b,a,c", ["A(200)", "B(201)", "A(600)", "C(3)"]),
        ("c,c", ["C(0)", "C(1)"]),
    ):
        run = run_and_compare(
            deployed, {"kinds": kinds}, ("--kinds", kinds), unordered=("results",)
        )
        # In Airflow the join reads its inputs in foreach order, whichever case each split took.
        assert run["steps"]["join"][0]["artifacts"]["results"] == repr(results)


def test_switch_in_a_branch_meets_in_the_split_join(airflow):
    # The shape of Metaflow's own switch_in_branch test graph.
    deployed = airflow.deploy("switch_in_branch_flow.py")
    for condition, final in (("case1", ["from_a_c", "from_b"]), ("case2", ["from_a_d", "from_b"])):
        run = run_and_compare(deployed, {"condition": condition}, ("--condition", condition))
        assert run["steps"]["join"][0]["artifacts"]["final_data"] == repr(final)


def test_nested_switches_meeting_inside_the_case_and_at_the_outer_merge(airflow):
    # Metaflow's own nested_switch test graph has the second form: the nested switch's cases
    # end where the outer cases meet.
    deployed = airflow.deploy("nested_switch_flow.py")
    for outer, first, second, final in (
        ("deep", "x", "q", "x/q"),
        ("deep", "y", "p", "y/p"),
        ("flat", "x", "p", "flat"),
    ):
        args = ("--outer", outer, "--first", first, "--second", second)
        run = run_and_compare(deployed, {"outer": outer, "first": first, "second": second}, args)
        assert run["steps"]["merge"][0]["artifacts"]["final"] == repr(final)


def test_switch_case_going_straight_to_the_meeting_step(airflow):
    # An "if without else": the direct case names the step where the cases meet, which then
    # reads the switch step's own task; inside the foreach each split chooses for itself.
    deployed = airflow.deploy("if_without_else_flow.py")
    source = deployed.dag_file.read_text()
    joined = re.sub(r"[\"']\s*\n\s*[\"']", "", source)
    assert "{'prepare': 'gather', 'finish': 'start'}[ti.xcom_pull(task_ids='start')]" in joined
    assert "{'bump': 'bump', 'meet': 'body'}.get(" in joined
    assert 'pre_execute=run_if_chosen("body", "bump")' in source
    for choice, kinds in (("fan", "bump,keep,bump"), ("direct", "keep,keep"), ("fan", "bump")):
        run = run_and_compare(
            deployed, {"choice": choice, "kinds": kinds}, ("--choice", choice, "--kinds", kinds)
        )
        fan = {"prepare", "scale", "gather"}
        assert (set(run["steps"]) & fan == fan) == (choice == "fan")
        total = 60 if choice == "fan" else 1
        assert run["steps"]["finish"][0]["artifacts"]["total"] == repr(total)
        split_kinds = kinds.split(",")
        bumped = [i for i, kind in enumerate(split_kinds) if kind == "bump"]
        assert [t["stack"] for t in run["steps"].get("bump", [])] == [[i] for i in bumped]
        assert [t["stack"] for t in run["steps"]["meet"]] == [[i] for i in range(len(split_kinds))]
        labels = [
            f"{i}:{kind}+bumped".upper() if kind == "bump" else f"{i}:{kind}".upper()
            for i, kind in enumerate(split_kinds)
        ]
        assert run["steps"]["join"][0]["artifacts"]["labels"] == repr(labels)


def test_nested_switches_with_cases_going_straight_to_the_meeting_step(airflow):
    deployed = airflow.deploy("nested_if_flow.py")
    for outer, inner, final in (
        ("flat", "x", "start"),
        ("deep", "y", "start/choose"),
        ("deep", "x", "start/choose/x"),
    ):
        run = run_and_compare(
            deployed, {"outer": outer, "inner": inner}, ("--outer", outer, "--inner", inner)
        )
        assert run["steps"]["merge"][0]["artifacts"]["final"] == repr(final)


def test_switch_cases_naming_one_step_and_a_case_going_to_the_end_step(airflow):
    deployed = airflow.deploy("switch_to_end_flow.py")
    source = deployed.dag_file.read_text()
    assert source.count("start_choice >> middle") == 1
    for first, then, final in (("b", "skip", "start/middle"), ("a", "work", "start/middle/work")):
        run = run_and_compare(
            deployed, {"first": first, "then": then}, ("--first", first, "--then", then)
        )
        assert run["steps"]["end"][0]["artifacts"]["final"] == repr(final)


def test_switch_case_going_straight_to_the_meeting_step_on_airflow_2(tmp_path):
    af2_python = os.environ.get("MFAIRFLOW_AF2_PYTHON")
    assert af2_python, "MFAIRFLOW_AF2_PYTHON must name the Airflow 2.10 python (make install-af2)"
    airflow2 = LocalAirflow(tmp_path / "airflow2", str(Path(af2_python).with_name("airflow")))
    deployed = airflow2.deploy("if_without_else_flow.py")
    for choice, kinds, steps, labels, total in (
        ("direct", "bump,keep", {"bump"}, ["0:BUMP+BUMPED", "1:KEEP"], 1),
        ("fan", "keep", {"prepare", "scale", "gather"}, ["0:KEEP"], 60),
    ):
        code, log, _ = deployed.dags_test({"choice": choice, "kinds": kinds})
        assert code == 0, log[-5000:]
        assert "{taskinstance.py:" in log  # Airflow 2's own task runner ran it
        run = deployed.probe()
        assert run["successful"]
        assert set(run["steps"]) == {"start", "finish", "body", "meet", "join", "end"} | steps
        assert run["steps"]["join"][0]["artifacts"]["labels"] == repr(labels)
        assert run["steps"]["join"][0]["artifacts"]["total"] == repr(total)
