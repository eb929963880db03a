"""Generated DAGs as Airflow itself loads them, on Airflow 3 and on Airflow 2.10.

The flows of tests/flows are compiled once into one DAG folder; tests/airflow_probe.py loads that
folder with each Airflow's own DagBag (in its own virtualenv) and reports what Airflow sees.
Airflow 2 runs under the interpreter named by MFAIRFLOW_AF2_PYTHON (`make test` sets it to
.venv-af2/bin/python); without it the Airflow 2 tests fail rather than skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import FLOWS, ROOT, compile_flow

PROBE = ROOT / "tests" / "airflow_probe.py"
AF2_ENV = "MFAIRFLOW_AF2_PYTHON"
VERSIONS = ("airflow3", "airflow2")
both_airflows = pytest.mark.parametrize("version", VERSIONS)

OPTIONS = (
    "--name",
    "ForeachOptions",
    "--max-workers",
    "7",
    "--worker-pool",
    "my_pool",
    "--tag",
    "a",
    "--tag",
    "b",
    "--is-paused-upon-creation",
)
# The user guide's `airflow create` examples, option for option.
GUIDE_OPTIONS = (
    "--name",
    "my_custom_dag_name",
    "--max-workers",
    "100",
    "--workflow-timeout",
    "3600",
    "--worker-pool",
    "my_pool",
    "--tag",
    "production",
    "--tag",
    "v1.0",
    "--is-paused-upon-creation",
)
GUIDE_PRODUCTION = (
    "--max-workers",
    "50",
    "--workflow-timeout",
    "14400",
    "--tag",
    "production",
    "--tag",
    "ml-pipeline",
)
# DAG id → (flow file stem, `airflow create` options)
COMPILED = {
    "MyAirflowFlow": ("my_flow", ()),
    "ScheduledFlow": ("scheduled_flow", ("--workflow-timeout", "3600")),
    "ParameterizedFlow": ("parameterized_flow", ("--workflow-timeout", "3600")),
    "WeeklyFlow": ("weekly_flow", ()),
    "TimezoneFlow": ("timezone_flow", ()),
    "ExitHooksFlow": ("exit_hooks_flow", ()),
    "DownstreamFlow": ("trigger_on_finish_flow", ()),
    "EventFlow": ("trigger_event_flow", ()),
    "HourlyFlow": ("hourly_flow", ()),
    "S3SensorFlow": ("s3_sensor_flow", ()),
    "ExternalTaskFlow": ("external_task_flow", ()),
    "MultiSensorFlow": ("multi_sensor_flow", ()),
    "ForeachFlow": ("foreach_flow", ()),
    "ForeachStringsFlow": ("foreach_strings_flow", ()),
    "ProductionMLFlow": ("production_ml_flow", GUIDE_PRODUCTION),
    "BranchFlow": ("branch_flow", ()),
    "NestedBranchFlow": ("nested_branch_flow", ()),
    "AllParamsFlow": ("all_params_flow", ()),
    "DecoratorsFlow": ("decorators_flow", ()),
    "KubernetesOptionsFlow": ("kubernetes_options_flow", ()),
    "DocstringsFlow": ("docstrings_flow", ()),
    "ForeachOptions": ("foreach_flow", OPTIONS),
    "my_custom_dag_name": ("my_flow", GUIDE_OPTIONS),
    "SwitchForeachFlow": ("switch_foreach_flow", ()),
    "ForeachSwitchFlow": ("foreach_switch_flow", ()),
    "ForeachSplitFlow": ("foreach_split_flow", ()),
    "ForeachSwitchJoinFlow": ("foreach_switch_join_flow", ()),
    "SwitchInBranchFlow": ("switch_in_branch_flow", ()),
    "NestedSwitchFlow": ("nested_switch_flow", ()),
    "NestedShapesFlow": ("nested_shapes_flow", ()),
}

LINEAR = ["start", "end"]
FOREACH = ["start", "process", "join", "end"]
SENSOR_KINDS = {
    "s3_key_sensor": "S3KeySensor",
    "wait_for_orders": "S3KeySensor",
    "wait_for_prices": "S3KeySensor",
    "external_task_sensor": "ExternalTaskSensor",
    "wait_for_ingest": "ExternalTaskSensor",
    "wait_for_upstream_dag": "ExternalTaskSensor",
}
# DAG id → its tasks in flow order (sensors first).
TASKS = {
    "MyAirflowFlow": ["start", "process", "end"],
    "ScheduledFlow": LINEAR,
    "ParameterizedFlow": LINEAR,
    "WeeklyFlow": LINEAR,
    "TimezoneFlow": LINEAR,
    "ExitHooksFlow": [
        *LINEAR,
        "exit_hook_on_success_notify_team",
        "exit_hook_on_error_page_on_call",
    ],
    "HourlyFlow": LINEAR,
    "S3SensorFlow": ["s3_key_sensor", *LINEAR],
    "ExternalTaskFlow": ["external_task_sensor", *LINEAR],
    "MultiSensorFlow": [
        "wait_for_orders",
        "wait_for_prices",
        "wait_for_ingest",
        "wait_for_upstream_dag",
        *LINEAR,
    ],
    "ForeachFlow": FOREACH,
    "ForeachStringsFlow": ["start", "shout", "join", "end"],
    "ProductionMLFlow": [
        "s3_key_sensor",
        "start",
        "load_data",
        "train_model",
        "join_models",
        "deploy",
        "end",
    ],
    "BranchFlow": ["start", "left", "right", "join", "end"],
    "NestedBranchFlow": ["start", "a", "a1", "a2", "join_a", "b", "join", "end"],
    "AllParamsFlow": LINEAR,
    "DecoratorsFlow": [
        "start",
        "default_retry",
        "timed",
        "with_env",
        "with_resources",
        "resources_and_kubernetes",
        "everything",
        "end",
    ],
    "KubernetesOptionsFlow": ["start", "train", "amd", "end"],
    "DocstringsFlow": ["start", "summarize", "end"],
    "ForeachOptions": FOREACH,
    "my_custom_dag_name": ["start", "process", "end"],
}
# DAG id → its edges (upstream, downstream); a linear DAG's edges follow TASKS.
EDGES = {
    "ExitHooksFlow": {
        ("start", "end"),
        ("end", "exit_hook_on_success_notify_team"),
        ("end", "exit_hook_on_error_page_on_call"),
    },
    "S3SensorFlow": {("s3_key_sensor", "start"), ("start", "end")},
    "ExternalTaskFlow": {("external_task_sensor", "start"), ("start", "end")},
    "MultiSensorFlow": {
        ("wait_for_orders", "start"),
        ("wait_for_prices", "start"),
        ("wait_for_ingest", "start"),
        ("wait_for_upstream_dag", "start"),
        ("start", "end"),
    },
    "ProductionMLFlow": {
        ("s3_key_sensor", "start"),
        ("start", "load_data"),
        ("load_data", "train_model"),
        ("train_model", "join_models"),
        ("join_models", "deploy"),
        ("deploy", "end"),
    },
    "BranchFlow": {
        ("start", "left"),
        ("start", "right"),
        ("left", "join"),
        ("right", "join"),
        ("join", "end"),
    },
    "NestedBranchFlow": {
        ("start", "a"),
        ("start", "b"),
        ("a", "a1"),
        ("a", "a2"),
        ("a1", "join_a"),
        ("a2", "join_a"),
        ("join_a", "join"),
        ("b", "join"),
        ("join", "end"),
    },
}
# DAG id → (foreach step, body step, join step)
FOREACHES = {
    "ForeachFlow": ("start", "process", "join"),
    "ForeachStringsFlow": ("start", "shout", "join"),
    "ProductionMLFlow": ("load_data", "train_model", "join_models"),
    "ForeachOptions": ("start", "process", "join"),
}
DEFAULT_REQUESTS = {"cpu": "1", "memory": "4096M", "ephemeral-storage": "10240M"}
FIVE_DAYS = 5 * 24 * 3600.0


def clean_probe_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "METAFLOW_"))}


@pytest.fixture(scope="module")
def dag_folder(tmp_path_factory):
    """Every flow of COMPILED compiled once (concurrently), all DAG files in one folder."""
    tmp = tmp_path_factory.mktemp("dagbag")
    folder = tmp / "dags"
    folder.mkdir()

    def build(item):
        dag_id, (stem, args) = item
        # Each compile gets its own folder: two variants of one flow never share a flow copy.
        return dag_id, compile_flow(FLOWS / f"{stem}.py", tmp / dag_id, *args)

    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        results = dict(pool.map(build, COMPILED.items()))
    for dag_id, result in results.items():
        assert result.proc.returncode == 0, f"{dag_id}: {result.proc.stderr}"
        shutil.copy(result.dag_path, folder / f"{dag_id.lower()}_dag.py")
    return folder


@pytest.fixture(scope="module")
def reports(dag_folder):
    """version → the probe's JSON report, or the reason there is none (a message)."""
    interpreters = {"airflow3": sys.executable, "airflow2": os.environ.get(AF2_ENV)}
    procs = {}
    outcome = {}
    for version, python in interpreters.items():
        if not python:
            outcome[version] = (
                f"{AF2_ENV} is not set: it must name the python of a virtualenv with "
                "Airflow 2.10 (make install-af2 creates .venv-af2; make test sets it)"
            )
            continue
        try:
            procs[version] = subprocess.Popen(
                [python, str(PROBE), str(dag_folder)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=clean_probe_env(),
            )
        except OSError as exc:
            outcome[version] = f"cannot run {python!r} for {version}: {exc}"
    for version, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            outcome[version] = f"the probe failed under {version} ({proc.returncode}):\n{err}"
            continue
        try:
            outcome[version] = json.loads(out)
        except json.JSONDecodeError as exc:
            outcome[version] = f"the probe printed no JSON under {version} ({exc}):\n{out[:2000]}"
    return outcome


def loaded(reports, version) -> dict:
    """The report of one Airflow version; a missing one fails the test (never skips it)."""
    report = reports[version]
    if isinstance(report, str):
        pytest.fail(report, pytrace=False)
    return report


def tasks_of(reports, version, dag_id) -> dict:
    return loaded(reports, version)["dags"][dag_id]["tasks"]


def transitive_reduction(edges: set) -> set:
    """The edges no other path between the same two tasks implies."""
    children: dict = {}
    for parent, child in edges:
        children.setdefault(parent, set()).add(child)

    def reachable(start: str, skip: tuple) -> set:
        seen, todo = set(), [c for c in children.get(start, ()) if (start, c) != skip]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(children.get(node, ()))
        return seen

    return {(a, b) for a, b in edges if b not in reachable(a, (a, b))}


def edges_of(tasks: dict) -> tuple[set, set]:
    """(edges from upstream lists, edges from downstream lists): both must agree."""
    up = {(parent, task) for task, info in tasks.items() for parent in info["upstream"]}
    down = {(task, child) for task, info in tasks.items() for child in info["downstream"]}
    return up, down


@both_airflows
def test_every_dag_loads_without_import_errors(reports, version):
    report = loaded(reports, version)
    assert report["airflow_version"].startswith("3." if version == "airflow3" else "2.")
    assert report["import_errors"] == {}
    assert sorted(report["dags"]) == sorted(COMPILED)


@both_airflows
def test_task_ids_and_operator_classes(reports, version):
    for dag_id, expected in TASKS.items():
        tasks = tasks_of(reports, version, dag_id)
        assert sorted(tasks) == sorted(expected), dag_id
        for task_id, info in tasks.items():
            operator = SENSOR_KINDS.get(task_id, "KubernetesPodOperator")
            assert info["operator"] == operator, (dag_id, task_id)


@both_airflows
def test_dependencies_follow_the_flow_graph_with_sensors_in_front_of_start(reports, version):
    for dag_id, order in TASKS.items():
        expected = EDGES.get(dag_id) or set(zip(order, order[1:]))
        up, down = edges_of(tasks_of(reports, version, dag_id))
        assert up == expected, dag_id
        assert down == expected, dag_id
        sensors = [task for task in order if task in SENSOR_KINDS]
        for sensor in sensors:
            assert (sensor, "start") in expected
        starts = tasks_of(reports, version, dag_id)["start"]
        assert starts["upstream"] == sorted(sensors), dag_id


@both_airflows
def test_foreach_body_is_mapped_over_the_foreach_and_the_join_follows(reports, version):
    for dag_id in TASKS:
        tasks = tasks_of(reports, version, dag_id)
        foreach, body, join = FOREACHES.get(dag_id, (None, None, None))
        for task_id, info in tasks.items():
            assert info["is_mapped"] is (task_id == body), (dag_id, task_id)
        if body is None:
            continue
        assert tasks[foreach]["do_xcom_push"] is True
        assert tasks[body]["expand_keys"] == ["arguments"]
        assert tasks[body]["upstream"] == [foreach]
        assert tasks[join]["upstream"] == [body]
        assert tasks[body]["downstream"] == [join]
        # The join names every mapped instance: as many as the foreach's XCom has items.
        join_script = tasks[join]["cmds"][2]
        assert f"ti.xcom_pull(task_ids='{foreach}') | length" in join_script
        # (the task ids' prefix: "t-", or a resumed run's own)
        task = "{{ task_prefix(dag_run) }}{{ ti.map_index }}"
        assert f"--task-id {task}" in tasks[body]["cmds"][2]
        exports = tasks[body]["cmds"][2].split(" && ", 1)[0]  # Metaflow's log capture reads it
        assert exports.startswith("export MF_PATHSPEC="), exports
        assert f"/{body}/{task} MF_ATTEMPT=" in exports, exports


@both_airflows
def test_params_carry_defaults_and_schema_types(reports, version):
    dags = loaded(reports, version)["dags"]

    def params(dag_id):
        return {
            name: (param["default"], param["schema"].get("type"), param["description"])
            for name, param in dags[dag_id]["params"].items()
        }

    assert params("ParameterizedFlow") == {
        "learning_rate": (0.01, "number", "Learning rate"),
        "epochs": (10, "integer", "Number of epochs"),
    }
    assert params("ProductionMLFlow") == {
        "model_type": ("xgboost", "string", "Model type to train"),
    }
    assert params("AllParamsFlow") == {
        "count": (3, "integer", "How many items"),
        "ratio": (0.25, "number", "Fraction to keep"),
        "label": ("hello world", "string", "A free-text label"),
        "dry_run": (False, "boolean", "Do not write anything"),
        "config": (
            {"model": {"depth": 4, "name": "tree"}, "layers": [64, 32], "debug": True},
            "object",
            "Settings as a JSON object",
        ),
        "threshold": (1.0, "number", None),
        "inferred": ("no type given", "string", None),
    }
    assert isinstance(dags["AllParamsFlow"]["params"]["threshold"]["default"], float)
    assert params("MyAirflowFlow") == {}
    # The params reach the start step (only the start step).
    start_env = dags["AllParamsFlow"]["tasks"]["start"]["env_vars"]
    assert start_env["METAFLOW_INIT_COUNT"] == "{{ params['count'] }}"
    assert start_env["METAFLOW_INIT_CONFIG"] == "{{ params['config'] | tojson }}"
    assert not any(
        k.startswith("METAFLOW_INIT_") for k in dags["AllParamsFlow"]["tasks"]["end"]["env_vars"]
    )


@both_airflows
def test_schedule_catchup_and_dag_arguments(reports, version):
    dags = loaded(reports, version)["dags"]
    schedules = {
        "MyAirflowFlow": "@daily",
        "my_custom_dag_name": "@daily",
        "ScheduledFlow": "0 10 * * *",
        "ProductionMLFlow": "0 2 * * *",
        "WeeklyFlow": "@weekly",
        "HourlyFlow": "@hourly",
        "TimezoneFlow": "30 9 * * 1-5",
        "EventFlow": "0 6 * * *",
    }
    timeouts = {"ScheduledFlow": 3600.0, "ProductionMLFlow": 14400.0, "my_custom_dag_name": 3600.0}
    max_tasks = {"ForeachOptions": 7, "ProductionMLFlow": 50}
    tags = {
        "ForeachOptions": ["a", "b"],
        "my_custom_dag_name": ["production", "v1.0"],
        "ProductionMLFlow": ["ml-pipeline", "production"],
    }
    paused = {"ForeachOptions", "my_custom_dag_name"}
    for dag_id, dag in dags.items():
        assert dag["schedule"] == schedules.get(dag_id), dag_id
        assert dag["catchup"] is False, dag_id
        assert dag["max_active_tasks"] == max_tasks.get(dag_id, 100), dag_id
        # --workflow-timeout is enforced only for scheduled DAGs (ParameterizedFlow has none).
        assert dag["dagrun_timeout_seconds"] == timeouts.get(dag_id), dag_id
        assert dag["tags"] == tags.get(dag_id, []), dag_id
        assert dag["is_paused_upon_creation"] is (dag_id in paused), dag_id
        berlin = dag_id in ("TimezoneFlow", "EventFlow")
        assert dag["timezone"] == ("Europe/Berlin" if berlin else "UTC"), dag_id


@both_airflows
def test_schedule_timezone_follows_daylight_saving_time(reports, version):
    """9:30 in Berlin on weekdays: 8:30 UTC in winter, 7:30 UTC from the last Sunday of March."""
    runs = loaded(reports, version)["dags"]["TimezoneFlow"]["next_runs"]
    # Airflow 2's cron schedule starts a run when its interval ends, Airflow 3's at the cron
    # time: either way every run starts at a cron time, in Berlin's time of that day.
    assert {
        "2026-03-27T08:30:00+00:00",  # Friday, winter time (UTC+1)
        "2026-03-30T07:30:00+00:00",  # Monday, summer time (UTC+2)
        "2026-03-31T07:30:00+00:00",
    } <= set(runs), runs
    berlin = [datetime.fromisoformat(run).astimezone(ZoneInfo("Europe/Berlin")) for run in runs]
    assert {(t.hour, t.minute) for t in berlin} == {(9, 30)}, runs
    assert all(t.weekday() < 5 for t in berlin), runs
    utc = loaded(reports, version)["dags"]["ScheduledFlow"]["next_runs"]
    assert {run[10:] for run in utc} == {"T10:00:00+00:00"}, utc


@both_airflows
def test_every_end_step_announces_its_flow_and_triggers_schedule_on_assets(reports, version):
    """Issue 16.1/16.2: the end step's outlet is the flow's finish Asset; @trigger_on_finish
    and @trigger DAGs are scheduled on their Assets (all of them), beside @schedule's cron."""
    dags = loaded(reports, version)["dags"]
    for dag_id, dag in dags.items():
        announcing = [task_id for task_id, task in dag["tasks"].items() if task["outlets"]]
        assert len(announcing) == 1, (dag_id, announcing)
    assert dags["BranchFlow"]["tasks"]["end"]["outlets"] == ["metaflow.BranchFlow.end"]
    assert dags["BranchFlow"]["assets"] == []
    down = dags["DownstreamFlow"]
    assert down["assets"] == [
        "metaflow.UpstreamFlow.end",
        "metaflow.analytics.prod.FeatureFlow.end",
    ]
    assert down["timetable"] == (
        "AssetTriggeredTimetable" if version == "airflow3" else "DatasetTriggeredTimetable"
    )
    assert down["next_runs"] == []
    event = dags["EventFlow"]
    assert event["assets"] == ["data.ready", "model.trained"]
    assert event["timetable"] == (
        "AssetOrTimeSchedule" if version == "airflow3" else "DatasetOrTimeSchedule"
    )
    # ... and at 6:00 Berlin time: 05:00 UTC before the change to summer time, 04:00 after.
    assert {"2026-03-27T05:00:00+00:00", "2026-03-29T04:00:00+00:00"} <= set(event["next_runs"])
    assert event["tasks"]["end"]["outlets"] == ["metaflow.EventFlow.end"]


@both_airflows
def test_exit_hooks_follow_end_with_their_trigger_rules_and_image(reports, version):
    tasks = tasks_of(reports, version, "ExitHooksFlow")
    success = tasks["exit_hook_on_success_notify_team"]
    error = tasks["exit_hook_on_error_page_on_call"]
    assert (success["trigger_rule"], error["trigger_rule"]) == ("all_success", "one_failed")
    for task, function in ((success, "notify_team"), (error, "page_on_call")):
        assert task["upstream"] == ["end"]
        script = task["cmds"][2]
        assert (
            "python -m metaflow.plugins.exit_hook.exit_hook_script exit_hooks_flow.py "
            f"{function} ExitHooksFlow/{{{{ metaflow_run_id(run_id) }}}}"
        ) in script
        assert task["image"] == "registry.example.com/hooks:1"
    assert tasks["start"]["image"] != "registry.example.com/hooks:1"


@both_airflows
def test_worker_pool_reaches_every_task_mapped_or_not(reports, version):
    dags = loaded(reports, version)["dags"]
    for dag_id, dag in dags.items():
        pool = "my_pool" if dag_id in ("ForeachOptions", "my_custom_dag_name") else "default_pool"
        assert {task: info["pool"] for task, info in dag["tasks"].items()} == {
            task: pool for task in dag["tasks"]
        }, dag_id


@both_airflows
def test_every_kubernetes_option_reaches_the_pod(reports, version):
    tasks = tasks_of(reports, version, "KubernetesOptionsFlow")
    train = tasks["train"]
    assert train["image"] == "my-registry/my-image:latest"
    assert train["namespace"] == "metaflow"
    assert train["service_account_name"] == "metaflow-sa"
    assert train["container_resources"] == {
        "requests": {"cpu": "4", "memory": "8192M", "ephemeral-storage": "51200M"},
        "limits": {"nvidia.com/gpu": "2"},
    }
    assert train["env_from"] == ["my-secret-1", "my-secret-2"]
    assert train["node_selector"] == {
        "node.type": "gpu",
        "topology.kubernetes.io/zone": "eu-west-1a",
    }
    assert train["tolerations"] == [
        {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        {"key": "spot", "operator": "Exists", "effect": "NoExecute"},
    ]
    assert train["labels"]["team"] == "ml" and train["labels"]["cost-center"] == "42"
    assert train["labels"]["app.kubernetes.io/name"] == "metaflow-task"
    assert train["annotations"]["example.com/owner"] == "ml-team"
    assert train["annotations"]["note"] == "free text, with spaces!"
    assert train["annotations"]["metaflow/flow_name"] == "KubernetesOptionsFlow"
    assert train["annotations"]["metaflow/production_token"].startswith("kubernetesoptionsflow-")
    amd = tasks["amd"]
    assert amd["container_resources"] == {
        "requests": {"cpu": "0.5", "memory": "512M", "ephemeral-storage": "10240M"},
        "limits": {"amd.com/gpu": "1"},
    }
    # A step without @kubernetes: Metaflow's defaults, nothing else.
    start = tasks["start"]
    assert start["container_resources"] == {"requests": DEFAULT_REQUESTS, "limits": None}
    assert start["service_account_name"] is None
    assert start["env_from"] == [] and start["tolerations"] == []
    assert start["node_selector"] in (None, {})
    assert "team" not in start["labels"] and "note" not in start["annotations"]


@both_airflows
def test_guide_resources_on_plain_and_mapped_tasks(reports, version):
    ml = tasks_of(reports, version, "ProductionMLFlow")
    assert ml["train_model"]["is_mapped"]
    assert ml["train_model"]["container_resources"] == {
        "requests": {"cpu": "8", "memory": "32768M", "ephemeral-storage": "10240M"},
        "limits": {"nvidia.com/gpu": "1"},
    }
    assert ml["load_data"]["container_resources"]["requests"]["memory"] == "16384M"
    assert ml["deploy"]["container_resources"]["requests"] == {
        "cpu": "2",
        "memory": "8192M",
        "ephemeral-storage": "10240M",
    }
    foreach = tasks_of(reports, version, "ForeachFlow")
    assert foreach["process"]["container_resources"]["requests"]["cpu"] == "2"
    mine = tasks_of(reports, version, "MyAirflowFlow")
    assert mine["process"]["container_resources"]["requests"] == {
        "cpu": "2",
        "memory": "4096M",
        "ephemeral-storage": "10240M",
    }
    assert mine["start"]["container_resources"]["requests"] == DEFAULT_REQUESTS
    decorated = tasks_of(reports, version, "DecoratorsFlow")
    assert decorated["with_resources"]["container_resources"] == {
        "requests": {"cpu": "3", "memory": "12288M", "ephemeral-storage": "20480M"},
        "limits": {"nvidia.com/gpu": "1"},
    }
    # @resources and @kubernetes on one step: the larger of each, as Metaflow does.
    assert decorated["resources_and_kubernetes"]["container_resources"]["requests"] == {
        "cpu": "8",
        "memory": "32768M",
        "ephemeral-storage": "10240M",
    }


@both_airflows
def test_retry_timeout_and_environment_decorators(reports, version):
    import jinja2

    tasks = tasks_of(reports, version, "DecoratorsFlow")

    def policy(task):
        info = tasks[task]
        return info["retries"], info["retry_delay_seconds"], info["execution_timeout_seconds"]

    assert policy("start") == (3, 300.0, FIVE_DAYS)
    assert policy("default_retry") == (3, 120.0, FIVE_DAYS)
    assert policy("timed") == (0, 300.0, 5415.0)
    assert policy("everything") == (1, 0.0, 600.0)
    assert policy("end") == (0, 300.0, FIVE_DAYS)
    env = tasks["with_env"]["env_vars"]
    assert env["GREETING"] == "hello" and env["EMPTY"] == ""
    # A value that looks like Jinja reaches the pod unchanged once Airflow renders it.
    assert jinja2.Template(env["TEMPLATE_LIKE"]).render() == "{{ ds }}"
    assert tasks["everything"]["env_vars"]["MODE"] == "all"
    assert "GREETING" not in tasks["everything"]["env_vars"]
    assert env["METAFLOW_PRODUCTION_TOKEN"] == tasks["end"]["env_vars"]["METAFLOW_PRODUCTION_TOKEN"]
    ml = tasks_of(reports, version, "ProductionMLFlow")
    assert (ml["load_data"]["retries"], ml["load_data"]["retry_delay_seconds"]) == (3, 300.0)
    assert ml["load_data"]["execution_timeout_seconds"] == 3600.0
    # Mapped body: retries and timeout from its partial arguments.
    assert (ml["train_model"]["retries"], ml["train_model"]["retry_delay_seconds"]) == (2, 120.0)
    assert ml["train_model"]["execution_timeout_seconds"] == 7200.0
    guide = tasks_of(reports, version, "my_custom_dag_name")
    assert {info["retries"] for info in guide.values()} == {0}


@both_airflows
def test_sensor_arguments(reports, version):
    s3 = tasks_of(reports, version, "S3SensorFlow")["s3_key_sensor"]
    assert s3["bucket_key"] == "s3://my-bucket/data/*.csv"
    assert (s3["wildcard_match"], s3["timeout"], s3["poke_interval"], s3["mode"]) == (
        True,
        3600,
        60,
        "poke",
    )
    ext = tasks_of(reports, version, "ExternalTaskFlow")["external_task_sensor"]
    assert ext["external_dag_id"] == "upstream_dag"
    assert ext["external_task_ids"] == ["task1", "task2"]
    assert ext["allowed_states"] == ["success"]
    assert ext["execution_delta_seconds"] == 3600.0
    assert ext["check_existence"] is True
    multi = tasks_of(reports, version, "MultiSensorFlow")
    orders, prices = multi["wait_for_orders"], multi["wait_for_prices"]
    assert (orders["timeout"], orders["poke_interval"], orders["doc"]) == (
        1800,
        30,
        "Orders export is complete",
    )
    assert (prices["bucket_name"], prices["aws_conn_id"], prices["mode"]) == (
        "shop-prices",
        "aws_prices",
        "reschedule",
    )
    ingest, upstream = multi["wait_for_ingest"], multi["wait_for_upstream_dag"]
    assert ingest["failed_states"] == ["failed", "upstream_failed"]
    assert ingest["execution_delta_seconds"] == 1800.0
    assert (upstream["external_task_ids"], upstream["check_existence"]) == (None, False)
    assert (upstream["timeout"], upstream["execution_delta_seconds"]) == (600, None)
    ml = tasks_of(reports, version, "ProductionMLFlow")["s3_key_sensor"]
    assert (ml["bucket_key"], ml["timeout"]) == ("s3://data-bucket/input/*.parquet", 7200)


@both_airflows
def test_docstrings_become_descriptions_and_docs(reports, version):
    dags = loaded(reports, version)["dags"]
    doc = dags["DocstringsFlow"]
    assert doc["description"] == "Nightly report for the **sales** team."
    assert doc["doc_md"].startswith("Nightly report for the **sales** team.\n\nThe flow reads")
    assert doc["doc_md"].endswith('`code`, "quotes" and a backslash \\ in it.')
    assert doc["tasks"]["start"]["doc_md"] == "Read the orders.\n\nOne line per order."
    assert doc["tasks"]["summarize"]["doc_md"] == "Summarize the orders."
    assert doc["tasks"]["end"]["doc_md"] is None
    assert dags["ForeachFlow"]["description"] is None
    assert dags["ProductionMLFlow"]["tasks"]["train_model"]["doc_md"] == "Train model on data split"


def test_airflow_2_and_airflow_3_see_the_same_dags(reports):
    three, two = loaded(reports, "airflow3"), loaded(reports, "airflow2")

    # Their scheduled runs differ by design: Airflow 2 starts a cron run when its interval
    # ends, Airflow 3 at the cron time (test_schedule_timezone_follows_daylight_saving_time),
    # with timetables of their own (Airflow 2's cron-interval and Dataset ones, Airflow 3's
    # cron-trigger and Asset ones: test_every_end_step_announces_...).
    def seen(report):
        return {
            dag_id: {k: v for k, v in dag.items() if k not in ("next_runs", "timetable")}
            for dag_id, dag in report["dags"].items()
        }

    assert seen(two) == seen(three)


# Issue 17's shapes: DAG id → {task: (mapped, trigger rule, pre-execute hook)}
MERGE_RULE = "none_failed_min_one_success"
SHAPES = {
    "SwitchForeachFlow": {
        "start": (False, "all_success", False),
        "start_choice": (False, "all_success", False),
        "fan": (False, "all_success", False),
        "square": (True, "all_success", False),
        "gather": (False, "all_success", False),
        "pair": (False, "all_success", False),
        "left": (False, "all_success", False),
        "right": (False, "all_success", False),
        "pair_join": (False, "all_success", False),
        "plain": (False, "all_success", False),
        "merge": (False, MERGE_RULE, False),
        "end": (False, "all_success", False),
    },
    "ForeachSwitchFlow": {
        "start": (False, "all_success", False),
        "per_number": (True, "all_success", False),
        "even": (True, MERGE_RULE, True),
        "even_again": (True, MERGE_RULE, True),
        "odd": (True, MERGE_RULE, True),
        "merge": (True, MERGE_RULE, False),
        "after": (True, "all_success", False),
        "join": (False, "all_success", False),
        "end": (False, "all_success", False),
    },
    "ForeachSplitFlow": {
        "start": (False, "all_success", False),
        "per_word": (True, "all_success", False),
        "upper": (True, "all_success", False),
        "length": (True, "all_success", False),
        "reverse": (True, "all_success", False),
        "reverse_twice": (True, "all_success", False),
        "combine": (True, "all_success", False),
        "join": (False, "all_success", False),
        "end": (False, "all_success", False),
    },
}
SHAPE_EDGES = {
    "SwitchForeachFlow": {
        ("start", "start_choice"),
        ("start_choice", "fan"),
        ("start_choice", "pair"),
        ("start_choice", "plain"),
        ("fan", "square"),
        ("square", "gather"),
        ("gather", "merge"),
        ("pair", "left"),
        ("pair", "right"),
        ("left", "pair_join"),
        ("right", "pair_join"),
        ("pair_join", "merge"),
        ("plain", "merge"),
        ("merge", "end"),
    },
    "ForeachSwitchFlow": {
        ("start", "per_number"),
        ("per_number", "even"),
        ("per_number", "odd"),
        ("even", "even_again"),
        ("even_again", "merge"),
        ("odd", "merge"),
        ("merge", "after"),
        ("after", "join"),
        ("join", "end"),
    },
    "ForeachSplitFlow": {
        ("start", "per_word"),
        ("per_word", "upper"),
        ("per_word", "length"),
        ("per_word", "reverse"),
        ("reverse", "reverse_twice"),
        ("upper", "combine"),
        ("length", "combine"),
        ("reverse_twice", "combine"),
        ("combine", "join"),
        ("join", "end"),
    },
}


@both_airflows
def test_switches_and_splits_inside_foreaches_and_cases(reports, version):
    """Every case step of a switch inside a foreach is mapped and skips itself per split; a
    switch outside foreaches branches once, over foreaches and splits in its cases."""
    for dag_id, expected in SHAPES.items():
        tasks = tasks_of(reports, version, dag_id)
        seen = {
            task_id: (info["is_mapped"], info["trigger_rule"], info["pre_execute_hook"])
            for task_id, info in tasks.items()
        }
        assert seen == expected, dag_id
        up, down = edges_of(tasks)
        # A mapped task also depends on the task whose output it expands over (Airflow adds that
        # edge itself); compared without the edges another path already implies.
        assert up == down, dag_id
        assert transitive_reduction(up) == SHAPE_EDGES[dag_id], dag_id
    choice = tasks_of(reports, version, "SwitchForeachFlow")["start_choice"]
    assert choice["operator"] == "BranchPythonOperator"


@both_airflows
def test_switch_cases_meeting_in_joins_and_nested_switches(reports, version):
    join = tasks_of(reports, version, "ForeachSwitchJoinFlow")["join"]
    assert (join["is_mapped"], join["trigger_rule"]) == (False, MERGE_RULE)
    assert join["upstream"] == ["handle_a", "handle_b", "handle_c"]
    for case in ("handle_a", "handle_b", "handle_c"):
        info = tasks_of(reports, version, "ForeachSwitchJoinFlow")[case]
        assert (info["is_mapped"], info["pre_execute_hook"]) == (True, True)
    in_branch = tasks_of(reports, version, "SwitchInBranchFlow")
    assert in_branch["join"]["upstream"] == ["b", "c", "d"]
    assert in_branch["join"]["trigger_rule"] == MERGE_RULE
    assert in_branch["a_choice"]["operator"] == "BranchPythonOperator"
    nested = tasks_of(reports, version, "NestedSwitchFlow")
    choices = sorted(t for t, info in nested.items() if info["operator"] == "BranchPythonOperator")
    assert choices == ["inner_choice", "inner_merge_choice", "start_choice"]
    assert nested["merge"]["upstream"] == ["flat", "p", "q"]
    assert nested["inner_merge"]["trigger_rule"] == MERGE_RULE
    shapes = tasks_of(reports, version, "NestedShapesFlow")
    for case in ("even_split", "even_a", "even_b", "even_join", "odd_step"):
        assert (shapes[case]["is_mapped"], shapes[case]["pre_execute_hook"]) == (True, True)
    assert shapes["merge_item"]["trigger_rule"] == MERGE_RULE
