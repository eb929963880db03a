"""The settings of a local Airflow's processes (`mfairflow airflow up`): one environment for
every process of a home, made from the home's state file, and the servers' command lines."""

from __future__ import annotations

import os
from pathlib import Path

from . import local_postgres, processes

USERNAME = "admin"


def default_parallelism() -> int:
    """Tasks at once: 4 per core (steps mostly wait on I/O and start-up), 4 to 32."""
    return max(4, min(32, 4 * (os.cpu_count() or 1)))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(home: Path, state: dict) -> dict:
    """The environment of every Airflow process of this home (from its state)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    major, port, postgres = state["major"], state["port"], state["database"] == "postgres"
    # Airflow 2's executors run `airflow tasks run` from PATH: this Airflow's, not another.
    bin_dir = os.path.dirname(os.path.abspath(state["airflow"]))
    env.update(
        {
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
            "AIRFLOW_HOME": str(home),
            processes.MARKER: state["token"],
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": str(state["parallelism"]),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # A task whose process died (killed, out of memory) is failed, or retried, within
            # a minute instead of Airflow's five; still longer than an api-server restart, which
            # the tasks' heartbeats wait out. Tasks a dead scheduler left are reset as soon.
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # The scheduler's log server (8793 by default, on every interface): each home gets
            # its own port, so that two local Airflows do not fight over one.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(state["log_port"]),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if postgres:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = local_postgres.sqlalchemy_url(home)
    else:
        # SQLite: the scheduler and dag-processor wait up to 60 s for the lock (the default,
        # 5 s, crashed the scheduler with "database is locked" while several runs started at
        # once on a loaded machine). The api-server gives up after 10 s (see API_ENV):
        # concurrent requests can deadlock on SQLite's lock until one side's wait ends, so a
        # long wait there stalled every request for a minute; a short one ends such a deadlock
        # with a 500 that clients retry.
        (home / "mfairflow_sqlite.py").write_text(
            'CONNECT_ARGS = {"timeout": 60}\nAPI_CONNECT_ARGS = {"timeout": 10}\n'
        )
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(home), env.get("PYTHONPATH", "")) if p)
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = "mfairflow_sqlite.CONNECT_ARGS"
    if major >= 3:
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
                "AIRFLOW__API_AUTH__JWT_SECRET": state["secret"],
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "45",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                # New files are found within seconds, changed ones re-parsed as quickly.
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                # A loaded 2-core machine answers the workers slowly: 5 s (the default) fails.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
            }
        )
    else:
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor" if postgres else "SequentialExecutor",
                "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
                "AIRFLOW__WEBSERVER__SECRET_KEY": state["secret"],
                "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(port),
                "AIRFLOW__WEBSERVER__WORKERS": "1",
                "AIRFLOW__SCHEDULER__SCHEDULER_ZOMBIE_TASK_THRESHOLD": "45",
                "AIRFLOW__SCHEDULER__ZOMBIE_DETECTION_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            }
        )
    return env


# What the api-server's environment changes on SQLite (its lock wait, see _environment).
API_ENV = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "mfairflow_sqlite.API_CONNECT_ARGS",
}

# The scheduler runs the tasks (LocalExecutor / SequentialExecutor children): at a lower CPU
# priority they leave the API server its share of a small machine while runs are busy, so that
# the CLI's calls are answered promptly.
NICE = ("scheduler",)
NICE_INCREMENT = 10


def lower_priority() -> None:
    """In the child before exec: lower its CPU priority (the tasks it starts inherit it)."""
    os.nice(NICE_INCREMENT)


def commands(state: dict) -> dict:
    """The Airflow servers of this major, in start order: name → command line."""
    airflow, port = state["airflow"], str(state["port"])
    if state["major"] >= 3:
        return {
            "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", port],
            "scheduler": [airflow, "scheduler"],
            "dag-processor": [airflow, "dag-processor"],
        }
    return {
        "webserver": [airflow, "webserver", "--hostname", "127.0.0.1", "--port", port],
        "scheduler": [airflow, "scheduler"],
    }
