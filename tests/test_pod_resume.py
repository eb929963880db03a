"""Resume on the kubernetes target, without a cluster: an origin run whose foreach split fails,
then its resumed run, each task's pod replayed as tests/test_pod_contract.py replays them.

The flow is deployed for real to S3 on moto (code package uploaded); every KubernetesPodOperator
is rendered by Airflow's own templating (the resumed run's conf is the one `airflow resume`
computes from the datastore, tests/resume_plan_probe.py) and its container runs as a local
process. Airflow's own rules are applied between tasks: a switch's branch task skips the other
case, a failed task leaves its downstream tasks upstream_failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, s3_emulator
from dag_inspect import load_dag
from test_pod_contract import deploy, run_pod

ORIGIN_RUN = "manual__2026-12-05T10:00:00+00:00"
RESUMED_RUN = "mf-resume-0123456789abcdef"
PLAN_PROBE = ROOT / "tests" / "resume_plan_probe.py"

READ_RUN = """
import json, sys
from metaflow import Run, namespace
namespace(None)
run = Run(sys.argv[1])
tasks = {}
for step in run:
    for task in step:
        data = {k: repr(getattr(task.data, k)) for k in ("work_token", "start_token", "results")
                if k in task}
        tasks[f"{step.id}/{task.id}"] = [task.metadata_dict.get("origin-task-id"), data]
print(json.dumps({"successful": run.successful, "origin": run.origin_pathspec, "tasks": tasks}))
"""


def replay(dag, tmp: Path, pod_env: dict, run_id: str, conf: dict) -> tuple[dict, dict]:
    """Every task of one DAG run in dependency order: (task id → its state as Airflow would
    leave it (a mapped task: failed if one of its instances failed), failed pod → output)."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    xcom: dict = {}
    states: dict = {}
    logs: dict = {}
    for task in dag.topological_sort():
        upstream = [states[name] for name in task.upstream_task_ids]
        rule = getattr(task.trigger_rule, "value", task.trigger_rule)
        if states.get(task.task_id) == "skipped":
            continue
        if any(s in ("failed", "upstream_failed") for s in upstream):
            states[task.task_id] = "upstream_failed"
        elif upstream and all(s == "skipped" for s in upstream):
            states[task.task_id] = "skipped"
        elif "none_failed" not in rule and "skipped" in upstream:
            states[task.task_id] = "skipped"
        elif task.task_type == "BranchPythonOperator":  # follow_switch: skip the other cases
            chosen = xcom[task.op_kwargs["switch_task_id"]]
            for name in task.downstream_task_ids - {chosen}:
                states[name] = "skipped"
            states[task.task_id] = "success"
        elif hasattr(task, "partial_kwargs"):  # a mapped foreach body: one pod per split
            splits = xcom[task.expand_input.value["arguments"].operator.task_id]
            failed = False
            for index, split in enumerate(splits):
                pod = KubernetesPodOperator(
                    task_id=task.task_id, **task.partial_kwargs, arguments=split
                )
                _, proc = run_pod(pod, dag, tmp, pod_env, xcom, index, run_id, conf, check=False)
                if proc.returncode != 0:
                    logs[f"{task.task_id}[{index}]"] = proc.stdout[-3000:] + proc.stderr[-3000:]
                failed = failed or proc.returncode != 0
            states[task.task_id] = "failed" if failed else "success"
        else:
            value, proc = run_pod(task, dag, tmp, pod_env, xcom, -1, run_id, conf, check=False)
            if proc.returncode != 0:
                logs[task.task_id] = proc.stdout[-3000:] + proc.stderr[-3000:]
            states[task.task_id] = "success" if proc.returncode == 0 else "failed"
            if value is not None:
                xcom[task.task_id] = value
    return states, logs


def test_a_failed_foreach_split_resumes_on_pods(tmp_path, s3_endpoint):
    cloud = s3_emulator(s3_endpoint)
    deployed, env = deploy(tmp_path, cloud, "foreach_resume_flow.py")
    metadata = tmp_path / "metadata"
    pod_env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "METAFLOW_SKIP_INSTALL_DEPENDENCIES": "1",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(metadata),
        **cloud.identity,
    }
    here = {**os.environ, **env, "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(metadata)}
    from mfairflow.live.commands import metaflow_run_id

    flow = "ForeachResumeFlow"
    origin = metaflow_run_id(flow, ORIGIN_RUN)
    # Airflow renders a task's fields in place: each run gets the DAG as loaded from its file.
    states, _ = replay(load_dag(deployed.dag_path), tmp_path, pod_env, ORIGIN_RUN, {"fail_on": 3})
    assert states["work"] == "failed" and states["narrow"] == "skipped", states
    assert states["end"] == "upstream_failed", states

    probe = subprocess.run(
        [sys.executable, str(PLAN_PROBE), deployed.flow_path.name, origin, "--param", "fail_on=-1"],
        cwd=deployed.flow_path.parent,
        env=here,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    conf = json.loads(probe.stdout)
    assert conf["fail_on"] == -1 and conf["path"] == "wide"  # given / kept from the origin
    plan = conf["mfairflow_resume"]
    assert plan["clone"] == {"start": [0], "wide": [0], "work": [0, 1, 3]}
    assert (plan["origin_prefix"], plan["prefix"]) == ("t-", "r1-")

    states, logs = replay(load_dag(deployed.dag_path), tmp_path, pod_env, RESUMED_RUN, conf)
    ran = {name: "success" for name in states}
    assert states == {**ran, "narrow": "skipped"}, "\n".join([str(states), *logs.values()])
    resumed = metaflow_run_id(flow, RESUMED_RUN)
    read = [sys.executable, "-c", READ_RUN]
    runs = {}
    for run in (origin, resumed):
        proc = subprocess.run(
            [*read, f"{flow}/{run}"], env=here, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[run] = json.loads(proc.stdout)
    before, after = runs[origin], runs[resumed]
    assert not before["successful"] and after["successful"]
    assert after["origin"] == f"{flow}/{origin}"
    tasks = after["tasks"]
    assert all(name.split("/")[1].startswith("r1-") for name in tasks), sorted(tasks)
    for copied in ("start/0", "wide/0", "work/0", "work/1", "work/3"):
        step, index = copied.split("/")
        origin_id = f"t-{index}"
        assert tasks[f"{step}/r1-{index}"][0] == origin_id, copied  # Metaflow's origin-task-id
        assert tasks[f"{step}/r1-{index}"][1] == before["tasks"][f"{step}/{origin_id}"][1]
    for ran in ("work/r1-2", "gather/r1-0", "done/r1-0", "end/r1-0"):
        assert tasks[ran][0] is None, ran
    assert tasks["gather/r1-0"][1]["results"] == repr([10, 20, 30, 40])
