"""Render a DAG's start task for triggering events, with Airflow's own templating, as JSON.

    python tests/event_render_probe.py DAG_FILE EVENT_NAME < cases.json

Runs under Airflow 2.x and 3.x alike and imports neither pytest nor mfairflow. stdin holds a
list of event extras (payloads); for each, the start task is rendered as if one event of the
Asset EVENT_NAME with that extra had started the run (Airflow 3 names them asset events,
Airflow 2 dataset events), and stdout carries one JSON list: per case either
``{"env": {name: value}}`` (the start task's METAFLOW_INIT_ variables) or ``{"error": [type,
message]}``.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import sys
import tempfile
import types

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="mfairflow-probe-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def main() -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag
    try:
        from airflow.sdk import Asset

        key = "triggering_asset_events"
    except ImportError:  # Airflow 2
        from airflow.datasets import Dataset as Asset

        key = "triggering_dataset_events"

    cases = json.load(sys.stdin)
    bag = DagBag(dag_folder=sys.argv[1])
    assert not bag.import_errors, bag.import_errors
    (dag,) = bag.dags.values()
    task = dag.get_task("start")
    event_name = sys.argv[2]
    results = []
    for extra in cases:
        event = types.SimpleNamespace(
            extra=extra, timestamp=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        )
        ti = types.SimpleNamespace(task_id="start", map_index=-1, try_number=1)
        context = {
            "dag": dag,
            "dag_run": types.SimpleNamespace(conf={}),  # (a resumed run's conf names its origin)
            "run_id": "asset_triggered__2026-01-01T00:00:00+00:00",
            "ti": ti,
            "task_instance": ti,
            "params": {name: dag.params[name] for name in dag.params},
            key: {Asset(event_name): [event]},
        }
        rendered = copy.deepcopy(task)
        try:
            rendered.render_template_fields(context, jinja_env=dag.get_template_env())
        except Exception as exc:  # what the task would fail with
            results.append({"error": [type(exc).__name__, str(exc)]})
            continue
        env = {var.name: var.value for var in rendered.env_vars}
        results.append({"env": {k: v for k, v in env.items() if k.startswith("METAFLOW_INIT_")}})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
