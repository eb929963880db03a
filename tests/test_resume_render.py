"""What a resumed DAG run's tasks run, as Airflow renders them (Airflow 3, in this process).

A resumed run's conf (`airflow resume`) names the origin run and the map indices of the origin's
tasks to copy: each task's Metaflow command then copies its origin task (`--clone-only`) or runs
again (`--clone-run-id`), under task ids of the resumed run's own (`r1-...`), and reads its
parents with those ids. A conf whose ids could reach the shell fails the task. Any other run's
tasks run as before. (test_live_resume.py runs all of this on a live Airflow.)
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import SNAPSHOTS
from dag_inspect import (
    RUN_ID,
    SPLITS,
    is_mapped,
    load_dag,
    template_context,
    unmapped_pod_operator,
)

ORIGIN = "airflow-0123456789ab"
RESUME = {
    "origin_run_id": ORIGIN,
    "origin_prefix": "t-",
    "prefix": "r1-",
    "step_to_rerun": None,
    "clone": {"start": [0], "per_number": [0, 2]},
}


def command(dag, task_id: str, map_index: int = -1, conf=None) -> str:
    """The bash script of one task instance (a mapped one: with its split's arguments)."""
    task = dag.task_dict[task_id]
    if is_mapped(task):
        task = unmapped_pod_operator(task, SPLITS[map_index])
    context = template_context(dag, task_id, map_index, conf)
    task.render_template_fields(context, jinja_env=dag.get_template_env())
    return task.cmds[2]


def run_of(dag) -> str:
    from mfairflow.live.commands import metaflow_run_id

    return metaflow_run_id(dag.dag_id, RUN_ID)


def test_resumed_tasks_copy_or_run_again_under_their_own_ids():
    path = SNAPSHOTS / "foreach_switch_flow_dag.py"
    conf = {"width": 3, "mfairflow_resume": RESUME}
    dag = load_dag(path)
    run = run_of(dag)
    start = command(dag, "start", conf=conf)
    assert "--task-id r1-0 " in start
    assert f"--input-paths {run}/_parameters/params " in start
    assert f"--clone-only {ORIGIN}/start/t-0" in start
    first, second, third = (command(dag, "per_number", i, conf) for i in range(3))
    assert f"--clone-only {ORIGIN}/per_number/t-0" in first and "--task-id r1-0 " in first
    assert f"--clone-run-id {ORIGIN}" in second and "--task-id r1-1 " in second
    assert f"--input-paths {run}/start/r1-0 " in second
    assert f"--clone-only {ORIGIN}/per_number/t-2" in third
    join = command(dag, "join", conf=conf)
    assert f"--input-paths {run}/after/r1-:0,1,2 " in join
    assert f"--clone-run-id {ORIGIN}" in join
    assert "MF_PATHSPEC=ForeachSwitchFlow/" + run + "/join/r1-0 " in join

    fresh = load_dag(path)  # Airflow renders a task's fields in place: a new DAG object
    start = command(fresh, "start")
    assert "--task-id t-0 " in start and "--clone" not in start
    assert f"--input-paths {run}/start/t-0 " in command(fresh, "per_number", 1)


def test_a_resumed_run_announces_and_splits_with_its_own_task_ids():
    dag = load_dag(SNAPSHOTS / "nested_shapes_flow_dag.py")
    conf = {"mfairflow_resume": {**RESUME, "clone": {}}}
    context = template_context(dag, "end", conf=conf)
    end = dag.task_dict["end"]
    (asset,) = end.outlets
    events = {asset: SimpleNamespace(extra=None)}
    end._post_execute_hook({**context, "outlet_events": events}, None)  # as Airflow's runner
    assert events[asset].extra["pathspec"] == f"NestedShapesFlow/{run_of(dag)}/end/r1-0"

    pushed = {}
    ti = SimpleNamespace(
        xcom_pull=lambda task_ids: [SPLITS[:2], SPLITS[:1]],
        xcom_push=lambda key, value: pushed.update({key: value}),
    )
    splits = dag.task_dict["per_group_splits"].python_callable
    flat = splits("per_group", **{**context, "ti": ti})
    assert [args[-1].rsplit("/", 1)[1] for args in flat] == ["r1-0", "r1-0", "r1-1"]
    assert pushed["ranges"] == [[0, 2], [2, 3]]


@pytest.mark.parametrize(
    "key, value",
    [("origin_run_id", "x; touch MARKER"), ("prefix", "r1-/../"), ("origin_prefix", "$(id)")],
)
def test_a_conf_whose_ids_could_reach_the_shell_fails_the_task(key, value):
    dag = load_dag(SNAPSHOTS / "foreach_switch_flow_dag.py")
    conf = {"mfairflow_resume": {**RESUME, key: value}}
    with pytest.raises(Exception, match="is not a Metaflow id"):
        command(dag, "start", conf=conf)


def test_no_task_variable_can_shadow_a_name_the_dag_file_defines():
    """Every name a generated DAG defines at module level (helpers such as task_prefix, which a
    resumed run calls at run time; constants; imports) is one a step's task variable avoids."""
    import ast

    from mfairflow.analyzer.names import TEMPLATE_NAMES

    defined = set()
    for path in sorted(SNAPSHOTS.rglob("*_dag.py")):
        for node in ast.parse(path.read_text()).body:  # the `with DAG(...)` body: task variables
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.Try):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        defined |= {(a.asname or a.name).split(".")[0] for a in inner.names}
                    elif isinstance(inner, ast.Assign):
                        defined |= {t.id for t in inner.targets if isinstance(t, ast.Name)}
    assert defined - TEMPLATE_NAMES == set()
