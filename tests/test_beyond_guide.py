"""Graph shapes beyond the guide's limitations that mfairflow lifts (issue: beyond Metaflow)."""

from __future__ import annotations

import re

import pytest
from test_e2e_local import LocalAirflow, artifacts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    airflow = LocalAirflow(tmp_path_factory.mktemp("airflow-beyond"))
    yield airflow
    airflow.close()


def test_foreach_body_of_three_steps_matches_a_local_run(airflow):
    deployed = airflow.deploy("multi_body_flow.py")
    source = deployed.dag_file.read_text()
    # Every body step is mapped over the foreach's splits; only the first takes the split index.
    assert len(re.findall(r"\.expand\(\s*op_args=start\.output\s*\)", source)) == 3
    calls = {
        name: re.search(rf'metaflow_step\(\s*"{name}",(.*?)\)\.expand', source, re.S).group(1)
        for name in ("first", "second", "third")
    }
    assert "split_args=True" in calls["first"]  # its command ends with the split arguments
    assert "split_args" not in calls["second"] and "split_args" not in calls["third"]
    assert '["first/t-{{ ti.map_index }}"]' in calls["second"]
    assert '["second/t-{{ ti.map_index }}"]' in calls["third"]
    code, log, _ = deployed.dags_test()
    assert code == 0, log[-5000:]
    run = deployed.probe()
    assert run["successful"]
    assert [t["index"] for t in run["steps"]["third"]] == [0, 1, 2, 3]
    join = run["steps"]["join"][0]["artifacts"]
    assert join["words"] == repr(["AA-0", "BB-1", "CC-2", "DD-3"])
    local = deployed.probe(run_id=deployed.local_run(), namespace="-")
    assert artifacts(run) == artifacts(local)


def test_switch_follows_only_the_chosen_case(airflow):
    deployed = airflow.deploy("switch_flow.py")
    source = deployed.dag_file.read_text()
    assert "start_choice = BranchPythonOperator(" in source
    assert 'trigger_rule="none_failed_min_one_success"' in source
    for mode, ran, skipped, final in (
        ("fast", {"fast"}, {"slow", "slow2"}, "WENT FAST"),
        ("slow", {"slow", "slow2"}, {"fast"}, "WENT SLOW TWICE"),
    ):
        code, log, _ = deployed.dags_test({"mode": mode})
        assert code == 0, log[-5000:]
        run = deployed.probe()
        assert run["successful"]
        assert ran <= set(run["steps"]) and not skipped & set(run["steps"])
        assert run["steps"]["merge"][0]["artifacts"]["final"] == repr(final)
        local = deployed.probe(run_id=deployed.local_run("--mode", mode), namespace="-")
        assert artifacts(run) == artifacts(local)


def test_recursive_switch_is_a_clear_error(airflow):
    from conftest import ROOT, compile_flow

    flow = ROOT / "tests" / "e2e_flows" / "recursive_switch_flow.py"
    result = compile_flow(flow, airflow.home / "recursive")
    assert result.proc.returncode == 2
    assert "loops back (work → work)" in result.proc.stderr
    assert "recursive_switch_flow.py:11, step work" in result.proc.stderr
    assert "Traceback" not in result.proc.stderr


def test_three_level_nested_foreach_matches_a_local_run(airflow):
    deployed = airflow.deploy("nested_foreach_flow.py")
    source = deployed.dag_file.read_text()
    assert re.search(r"\.expand\(\s*op_args=per_letter_splits\.output\s*\)", source)
    assert re.search(r"\.expand\(\s*op_args=per_number_splits\.output\s*\)", source)
    code, log, _ = deployed.dags_test()
    assert code == 0, log[-5000:]
    run = deployed.probe()
    assert run["successful"]
    stacks = [t["stack"] for t in run["steps"]["per_sign"]]
    assert stacks == [[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]]
    final = run["steps"]["join_letters"][0]["artifacts"]["all"]
    assert final == repr([["a+0|a-0"], ["b+0|b-0", "b+1|b-1"]])
    local = deployed.probe(run_id=deployed.local_run(), namespace="-")
    assert artifacts(run) == artifacts(local)


def test_fifty_wide_flattened_nested_foreach(airflow):
    deployed = airflow.deploy("wide_nested_flow.py")
    code, log, _ = deployed.dags_test()
    assert code == 0, log[-5000:]
    assert len(set(re.findall(r"end task task_id=cell map_index=(\d+)", log))) == 50
    run = deployed.probe()
    grid = [[r * 10 + c for c in range(10)] for r in range(5)]
    assert run["steps"]["join_rows"][0]["artifacts"]["grid"] == repr(grid)
    assert [t["id"] for t in run["steps"]["cell"]] == [f"t-{i}" for i in range(50)]
    assert [t["stack"] for t in run["steps"]["cell"]] == [
        [r, c] for r in range(5) for c in range(10)
    ]
