"""Graph shapes beyond the guide's limitations that mfairflow lifts (issue: beyond Metaflow)."""

from __future__ import annotations

import pytest
from test_e2e_local import LocalAirflow, artifacts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    return LocalAirflow(tmp_path_factory.mktemp("airflow-beyond"))


def test_foreach_body_of_three_steps_matches_a_local_run(airflow):
    deployed = airflow.deploy("multi_body_flow.py")
    source = deployed.dag_file.read_text()
    # Every body step is mapped over the foreach's splits; only the first takes the split index.
    assert source.count(".expand(op_args=start.output)") == 3
    commands = {
        name: next(line for line in source.splitlines() if f"run_flow step {name} " in line)
        for name in ("first", "second", "third")
    }
    assert '"$@"' in commands["first"]
    assert '"$@"' not in commands["second"] and '"$@"' not in commands["third"]
    assert "/first/t-{{ ti.map_index }}" in source and "/second/t-{{ ti.map_index }}" in source
    code, log, _ = deployed.dags_test()
    assert code == 0, log[-5000:]
    run = deployed.probe()
    assert run["successful"]
    assert [t["index"] for t in run["steps"]["third"]] == [0, 1, 2, 3]
    join = run["steps"]["join"][0]["artifacts"]
    assert join["words"] == repr(["AA-0", "BB-1", "CC-2", "DD-3"])
    local = deployed.probe(run_id=deployed.local_run(), namespace="-")
    assert artifacts(run) == artifacts(local)
