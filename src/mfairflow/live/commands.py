"""What `airflow create/trigger/status/terminate/delete` do against a live Airflow (no click)."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Optional

from ..dag_files import generated_dag_id
from .client import AirflowClient, AirflowError, check_dag_id, check_run_id, parse_time, same_file

# Airflow's run states → the statuses Metaflow's Deployer reports.
STATUS = {
    "queued": "Pending",
    "running": "Running",
    "success": "Succeeded",
    "failed": "Failed",
}


def metaflow_run_id(dag_id: str, airflow_run_id: str) -> str:
    """The Metaflow run id a DAG run gets (the DAG's own `metaflow_run_id` helper)."""
    digest = hashlib.md5(f"{dag_id}-{airflow_run_id}".encode(), usedforsecurity=False)
    return "airflow-" + digest.hexdigest()[:12]


def wait_until_parsed(
    client: AirflowClient,
    dag_id: str,
    dag_file: str,
    written_at: float,
    timeout_s: float,
    log: Callable[[str], None],
) -> dict:
    """Wait until Airflow parsed this version of ``dag_file`` as ``dag_id``; its DAG record.

    Fails with Airflow's own import error for the file, or when the parse does not come
    within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    log(f"Waiting for Airflow to parse {dag_file} ...")
    while True:
        dag = client.get_dag(dag_id)
        if dag is not None and same_file(dag["fileloc"], dag_file):
            parsed = parse_time(dag.get("last_parsed_time"))
            if parsed is not None and parsed >= written_at - 1:
                return dag
        for error in client.import_errors():
            if same_file(error["filename"], dag_file):
                # An import error older than this version of the file is about an old version.
                when = parse_time(error.get("timestamp"))
                if when is None or when >= written_at - 1:
                    raise AirflowError(
                        f"Airflow could not import {dag_file}:\n{error['stack_trace'].rstrip()}",
                        hint="fix the error above; the file stays in place so that the Airflow UI "
                        "shows it too",
                    )
        if time.monotonic() > deadline:
            raise AirflowError(
                f"Airflow did not parse {dag_file} within {timeout_s:.0f} s",
                hint="is the file in Airflow's DAGs folder (METAFLOW_AIRFLOW_DAGS_FOLDER) and is "
                "the dag-processor running? Raise --deploy-timeout on a slow Airflow",
            )
        time.sleep(1)


def deploy(
    client: AirflowClient,
    dag_id: str,
    dag_file: str,
    written_at: float,
    paused: bool,
    timeout_s: float,
    log: Callable[[str], None],
) -> None:
    """After the DAG file is written: wait for Airflow's parse, then (un)pause the DAG."""
    dag = wait_until_parsed(client, dag_id, dag_file, written_at, timeout_s, log)
    if bool(dag.get("is_paused")) != paused:
        client.set_paused(dag_id, paused)
    log(f"Airflow loaded DAG {dag_id} ({'paused' if paused else 'active'}).")


@dataclass(frozen=True)
class Triggered:
    """A DAG run just posted: its Airflow run id and its Metaflow run id."""

    dag_id: str
    airflow_run_id: str
    run_id: str


def trigger(
    client: AirflowClient,
    dag_id: str,
    conf: dict,
    airflow_run_id: Optional[str] = None,
    prefix: str = "mf-",
) -> Triggered:
    """Post a DAG run with ``conf`` (typed parameter values); refuses unknown or paused DAGs.

    Without ``airflow_run_id``, the run id is ``prefix`` and a random part."""
    dag = client.get_dag(check_dag_id(dag_id))
    if dag is None:
        raise AirflowError(
            f"Airflow has no DAG {dag_id!r}",
            hint="deploy it first with `python flow.py airflow create` (with "
            "METAFLOW_AIRFLOW_REST_API_URL set); if Airflow was restarted or reset, deploy again",
        )
    if dag.get("is_paused"):
        raise AirflowError(
            f"the DAG {dag_id!r} is paused in Airflow; a triggered run would wait forever",
            hint="unpause it in the Airflow UI, or re-create it without --is-paused-upon-creation",
        )
    run = check_run_id(airflow_run_id) if airflow_run_id else prefix + uuid.uuid4().hex[:16]
    try:
        response = client.trigger(dag_id, run, conf)
    except AirflowError:
        if airflow_run_id is None and client.get_run(dag_id, run) is not None:
            # The post timed out but Airflow created the run (the id is ours alone).
            return Triggered(dag_id, run, metaflow_run_id(dag_id, run))
        raise
    if response.status_code == 409:
        raise AirflowError(
            f"the DAG {dag_id!r} already has a run {run!r}", hint="choose another run id"
        )
    if response.status_code in (400, 422):
        raise AirflowError(
            f"Airflow refused the parameters of DAG {dag_id!r}: {_message(response)}",
            hint="pass values of the parameters' types (see `python flow.py airflow trigger "
            "--help`)",
        )
    return Triggered(dag_id, run, metaflow_run_id(dag_id, run))


def _message(response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    return str(detail)[:2000]


def run_reference(run: object) -> str:
    """The run id in ``run``: an Airflow run id, a Metaflow run id (``airflow-…``) or a
    Metaflow pathspec ``Flow/<run id>``; a clear error for anything else."""
    if isinstance(run, str) and run.count("/") == 1:
        flow, run_id = run.split("/")
        if flow.isidentifier():
            return check_run_id(run_id)
    return check_run_id(run)


def find_run(client: AirflowClient, dag_id: str, run: str) -> dict:
    """A DAG run named by its Airflow run id or its Metaflow run id (``airflow-…``)."""
    wanted = run_reference(run)
    found = client.get_run(dag_id, run) if "/" not in run else None
    if found is not None:
        return found
    for candidate in client.list_runs(dag_id):
        if metaflow_run_id(dag_id, candidate["dag_run_id"]) == wanted:
            return candidate
    raise AirflowError(
        f"the DAG {dag_id!r} has no run {run!r}",
        hint="give the Airflow run id or the Metaflow run id (airflow-...)",
    )


def run_status(client: AirflowClient, dag_id: str, run: str) -> str:
    """Pending, Running, Succeeded or Failed."""
    state = find_run(client, dag_id, run).get("state")
    return STATUS.get(state, str(state).capitalize())


def terminate(client: AirflowClient, dag_id: str, run: str) -> dict:
    """End a run (Airflow marks it failed and stops its tasks); returns the run."""
    found = find_run(client, dag_id, run)
    if found.get("state") in ("queued", "running"):
        client.set_run_state(dag_id, found["dag_run_id"], "failed")
    return found


def delete(
    client: AirflowClient,
    dag_id: str,
    log: Callable[[str], None],
    timeout_s: float = 120,
) -> None:
    """Pause, end active runs, wait until none runs, remove the file, then delete the DAG.

    In this order: deleting a DAG while one of its runs finishes crashed Airflow 3.3's
    scheduler (StaleDataError). Nothing is changed unless the DAG's file is one mfairflow
    generated for this DAG id in the DAGs folder (see owned_dag_file).
    """
    dag = client.get_dag(dag_id)
    if dag is None:
        raise AirflowError(f"Airflow has no DAG {dag_id!r}", hint="nothing to delete")
    dag_file = owned_dag_file(dag_id, dag.get("fileloc"), client.config.dags_folder)
    client.set_paused(dag_id, True)
    for run in client.list_runs(dag_id):
        if run["state"] in ("queued", "running"):
            client.set_run_state(dag_id, run["dag_run_id"], "failed")
            log(f"Ended run {run['dag_run_id']}.")
    deadline = time.monotonic() + timeout_s
    while any(r["state"] in ("queued", "running") for r in client.list_runs(dag_id)):
        if time.monotonic() > deadline:
            raise AirflowError(
                f"runs of {dag_id!r} did not end within {timeout_s:.0f} s", hint="try again later"
            )
        time.sleep(1)
    time.sleep(3)  # let the scheduler finish its bookkeeping of the ended runs
    if dag_file is not None and os.path.lexists(dag_file):
        os.remove(dag_file)
        log(f"Removed {dag_file}.")
    client.delete_dag(dag_id)
    log(f"Deleted DAG {dag_id} from Airflow.")


def owned_dag_file(dag_id: str, fileloc: object, dags_folder: Optional[str]) -> Optional[str]:
    """The file `delete` removes: the DAG's file (as Airflow reports it) if mfairflow generated
    it for ``dag_id`` inside the DAGs folder (real paths: no link leads out of it); None when
    there is no such file any more. Any other file is someone else's: an AirflowError, before
    anything is changed (deleting the DAG in Airflow while its file stays would only make
    Airflow load it again)."""
    if not isinstance(fileloc, str) or not fileloc:
        return None
    folder = os.path.realpath(dags_folder) if dags_folder else None
    path = fileloc if os.path.isabs(fileloc) or folder is None else os.path.join(folder, fileloc)
    if not os.path.lexists(path):
        return None
    keep = "delete leaves the file and the DAG as they are"
    if folder is None:
        raise AirflowError(
            f"METAFLOW_AIRFLOW_DAGS_FOLDER is not set, so delete cannot tell whether the DAG "
            f"file {path} of {dag_id!r} is in Airflow's DAGs folder; {keep}",
            hint="set METAFLOW_AIRFLOW_DAGS_FOLDER to Airflow's DAGs folder",
        )
    real = os.path.realpath(path)
    if os.path.commonpath([real, folder]) != folder:
        raise AirflowError(
            f"the DAG file {path} of {dag_id!r} is outside the DAGs folder {folder}"
            + (f" (a link to {real})" if real != os.path.abspath(path) else "")
            + f"; {keep}",
            hint="delete removes only files it generated in METAFLOW_AIRFLOW_DAGS_FOLDER: check "
            "that setting, or remove the DAG by hand",
        )
    if os.path.islink(path) or generated_dag_id(real) != dag_id:
        raise AirflowError(
            f"the DAG file {path} of {dag_id!r} was not generated by mfairflow for this DAG "
            f"(a hand-written file, another DAG's file or a link); {keep}",
            hint="remove the DAG from that file by hand (Airflow then drops it), or delete it "
            "in the Airflow UI",
        )
    return real
