"""`mfairflow airflow up/down/status`: a local Airflow on 127.0.0.1 for development and tests.

Airflow 3: api-server, scheduler (LocalExecutor) and dag-processor; Airflow 2 (for smoke tests):
webserver (basic auth on /api/v1) and scheduler (LocalExecutor on PostgreSQL, SequentialExecutor
on SQLite, which Airflow 2 refuses the LocalExecutor). The database is SQLite in the home, or
PostgreSQL (``--database postgres``, local_postgres.py) with its data folder in the home. Every
process runs in its own process group, recorded (pid and start time) in the home's state file,
so that `down` stops exactly what `up` started, with the workers and step processes they forked
(processes.py); `up` on a home whose processes partly died restarts only those.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import local_env, local_postgres, processes
from .client import AirflowClient, AirflowConfig, AirflowError

STATE_FILE = "mfairflow-airflow.json"
PASSWORD_FILE = "mfairflow-admin.json"
USERNAME = "admin"
UP_TIMEOUT_S = 300
DATABASES = ("sqlite", "postgres")


@dataclass(frozen=True)
class LocalAirflow:
    """A running local Airflow: where it lives and how to reach it."""

    home: Path
    port: int
    major: int
    password: str = field(repr=False)
    database: str = "sqlite"

    @property
    def url(self) -> str:
        """The API server's address."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def dags_folder(self) -> Path:
        """The folder the dag-processor scans."""
        return self.home / "dags"

    def config(self) -> AirflowConfig:
        """Client settings for this Airflow."""
        return AirflowConfig(
            url=self.url,
            username=USERNAME,
            password=self.password,
            dags_folder=str(self.dags_folder),
        )

    def exports(self) -> dict:
        """The environment a shell (or a test) needs to talk to this Airflow."""
        return {
            "METAFLOW_AIRFLOW_REST_API_URL": self.url,
            "METAFLOW_AIRFLOW_USERNAME": USERNAME,
            "METAFLOW_AIRFLOW_PASSWORD": self.password,
            "METAFLOW_AIRFLOW_DAGS_FOLDER": str(self.dags_folder),
        }


def airflow_binary() -> str:
    """The `airflow` command beside this Python (the virtualenv's own)."""
    beside = Path(sys.executable).with_name("airflow")
    if beside.exists():
        return str(beside)
    found = shutil.which("airflow")
    if not found:
        raise AirflowError(
            "no `airflow` command found beside this Python or on PATH",
            hint="install Airflow in this environment (make install)",
        )
    return found


def airflow_major(airflow: str) -> int:
    """The major version of the installed Airflow (2 or 3)."""
    proc = subprocess.run(
        [airflow, "version"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
    )
    lines = [line for line in proc.stdout.splitlines() if line[:1].isdigit()]
    if proc.returncode != 0 or not lines:
        raise AirflowError(
            f"`airflow version` failed: {proc.stderr.strip()[-500:]}",
            hint="check the Airflow installation",
        )
    return int(lines[-1].split(".")[0])


def _read_state(home: Path) -> Optional[dict]:
    path = home / STATE_FILE
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    # State files of earlier versions kept bare pids (and no start times).
    state["pids"] = {
        name: rec if isinstance(rec, dict) else {"pid": rec, "start": None}
        for name, rec in state["pids"].items()
    }
    state.setdefault("database", "sqlite")
    return state


def _write_state(home: Path, state: dict) -> None:
    path = home / STATE_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle)


def _instance(home: Path, state: dict) -> LocalAirflow:
    return LocalAirflow(home, state["port"], state["major"], state["password"], state["database"])


def running(home: Path) -> Optional[LocalAirflow]:
    """The Airflow `up` started under ``home``, if all its processes still run."""
    state = _read_state(home)
    if not state or not all(processes.leader_alive(r) for r in state["pids"].values()):
        return None
    return _instance(home, state)


def up(
    home: str,
    port: int = 8080,
    airflow: Optional[str] = None,
    timeout_s: float = UP_TIMEOUT_S,
    log=print,
    database: Optional[str] = None,
    parallelism: Optional[int] = None,
) -> LocalAirflow:
    """Start a local Airflow under ``home`` (or reuse it, restarting only the processes that
    died) and wait until its API answers.

    ``database``: "sqlite" or "postgres"; by default what the home had (else sqlite)."""
    if database is not None and database not in DATABASES:
        raise AirflowError(f"unknown database {database!r}", hint=f"one of {', '.join(DATABASES)}")
    home_path = Path(home).resolve()
    with processes.home_lock(home_path, log):
        state = _read_state(home_path)
        if state is not None:
            if database is not None and database != state["database"]:
                raise AirflowError(
                    f"the Airflow under {home_path} runs on {state['database']}, not {database}",
                    hint="`mfairflow airflow down` first to change the database",
                )
            return _restart_dead(home_path, state, timeout_s, log)
        if database is None:
            database = "postgres" if local_postgres.initialized(home_path) else "sqlite"
        return _start(home_path, port, airflow, database, parallelism, timeout_s, log)


def _restart_dead(home: Path, state: dict, timeout_s: float, log) -> LocalAirflow:
    """Start again what died of a running home; leave what runs alone."""
    pids = state["pids"]
    dead = [name for name, rec in pids.items() if not processes.leader_alive(rec)]
    instance = _instance(home, state)
    if not dead:
        log(f"Airflow already runs under {home} (port {state['port']}); reusing it.")
        _wait_api(instance, timeout_s)
        return instance
    log(f"Restarting {', '.join(dead)} under {home} (the rest runs on) ...")
    # What is left of a dead group (an api-server's workers, the tasks of a scheduler) goes
    # first: it holds ports, and its tasks would run beside their own retries.
    processes.stop({name: pids[name] for name in dead}, grace_s=10, reap=_reap)
    if "scheduler" in dead:
        alive = [rec for name, rec in pids.items() if name not in dead]
        processes.kill_strays(state["token"], keep=alive)
    try:
        if "postgres" in dead:
            _start_postgres(home, state)
        env = local_env.environment(home, state)
        for name, command in local_env.commands(state).items():
            if name in dead:
                _launch(home, state, name, command, env)
        _wait_api(instance, timeout_s)
    except BaseException:
        # Stop what this call started; what ran before runs on (a later `up` tries again).
        restarted = {name: state["pids"][name] for name in dead if name in state["pids"]}
        processes.stop(restarted, grace_s=10, reap=_reap)
        raise
    return instance


def _start(
    home: Path,
    port: int,
    airflow: Optional[str],
    database: str,
    parallelism: Optional[int],
    timeout_s: float,
    log,
) -> LocalAirflow:
    airflow = airflow or airflow_binary()
    major = airflow_major(airflow)
    (home / "dags").mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    state = {
        "port": port,
        "major": major,
        "password": _kept_password(home) or secrets.token_urlsafe(12),
        # Kept while the home runs: a restarted api-server must accept the scheduler's tokens.
        "secret": secrets.token_hex(16),
        "log_port": local_env.free_port(),
        "token": secrets.token_hex(8),
        "airflow": airflow,
        "database": database,
        "parallelism": parallelism or local_env.default_parallelism(),
        "pids": {},
    }
    instance = _instance(home, state)
    try:
        if database == "postgres":
            log(f"Starting PostgreSQL in {local_postgres.data_dir(home)} ...")
            _start_postgres(home, state)
        env = local_env.environment(home, state)
        log(f"Migrating the Airflow {major} database ({database}) under {home} ...")
        migrate = subprocess.run(
            [airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
        )
        if migrate.returncode != 0:
            raise AirflowError(
                f"`airflow db migrate` failed: {migrate.stderr.strip()[-1500:]}",
                hint=f"see {home}; remove it to start from scratch",
            )
        _set_password(home, state, env)
        for name, command in local_env.commands(state).items():
            _launch(home, state, name, command, env)
        log(f"Started {', '.join(state['pids'])}; waiting for the API at {instance.url} ...")
        _wait_api(instance, timeout_s)
    except BaseException:
        _down(home, log=lambda _msg: None)
        raise
    return instance


def _launch(home: Path, state: dict, name: str, command: list, env: dict, **popen) -> None:
    """Start one server in a process group of its own; record it in the state file."""
    sqlite_api = name == "api-server" and state["database"] == "sqlite"
    with open(home / "logs" / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(
            command,
            env={**env, **local_env.API_ENV} if sqlite_api else env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=local_env.lower_priority if name in local_env.NICE else None,
            **popen,
        )
    state["pids"][name] = processes.record(proc.pid)
    (home / f"{name}.pid").write_text(f"{proc.pid}\n")
    _write_state(home, state)


def _start_postgres(home: Path, state: dict) -> None:
    """Start the home's PostgreSQL (its cluster made on the first start); wait until ready."""
    server = local_postgres.Server(home)
    if not local_postgres.initialized(home):
        server.initdb()
    fd = server.open_folder()
    try:
        folder, popen = server.popen_args(fd)
        _launch(home, state, "postgres", server.command(folder), popen.pop("env"), **popen)
    finally:
        os.close(fd)
    rec = state["pids"]["postgres"]
    server.wait_ready(lambda: processes.leader_alive(rec))


def _set_password(home: Path, state: dict, env: dict) -> None:
    """Give the admin user the home's password (kept across `down`/`up`), never on a
    command line: Airflow 3 reads a file, Airflow 2's `users create` its standard input."""
    fd = os.open(home / PASSWORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({USERNAME: state["password"]}, handle)
    if state["major"] >= 3:
        passwords = home / "simple_auth_manager_passwords.json.generated"
        passwords.write_text(json.dumps({USERNAME: state["password"]}))
        os.chmod(passwords, 0o600)
        return
    user = subprocess.run(
        [
            state["airflow"],
            "users",
            "create",
            "--username",
            USERNAME,
            "--role",
            "Admin",
            "--email",
            "admin@example.com",
            "--firstname",
            "Local",
            "--lastname",
            "Admin",
        ],
        env=env,
        # Asked twice (getpass); in a session of its own getpass has no terminal and reads
        # the standard input.
        input=f"{state['password']}\n{state['password']}\n",
        start_new_session=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if user.returncode != 0:
        raise AirflowError(
            f"`airflow users create` failed: {user.stderr.strip()[-1500:]}",
            hint=f"see {home}",
        )


def _kept_password(home: Path) -> Optional[str]:
    """The password an earlier `up` under this home gave the user, if any."""
    for name in (PASSWORD_FILE, "simple_auth_manager_passwords.json.generated"):
        try:
            password = json.loads((home / name).read_text()).get(USERNAME)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(password, str) and password:
            return password
    return None


def _wait_api(instance: LocalAirflow, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: Optional[Exception] = None
    while time.monotonic() < deadline:
        state = _read_state(instance.home)
        if state:
            dead = [n for n, r in state["pids"].items() if not processes.leader_alive(r)]
            if dead:
                raise AirflowError(
                    f"Airflow's {', '.join(dead)} stopped while starting",
                    hint=f"see {instance.home / 'logs'}/<name>.log",
                )
        try:
            client = AirflowClient(instance.config(), timeout=10, retry_s=0)
            client.request("GET", "/dags", params={"limit": 1})
            return
        except AirflowError as exc:
            last = exc
        time.sleep(2)
    raise AirflowError(
        f"Airflow's API did not answer within {timeout_s:.0f} s ({last})",
        hint=f"see {instance.home / 'logs'}",
    )


def down(home: str, log=print) -> list:
    """Stop the processes `up` started under ``home`` (their process groups, the tasks they
    left, then PostgreSQL)."""
    home_path = Path(home).resolve()
    with processes.home_lock(home_path, log):
        return _down(home_path, log)


def _down(home_path: Path, log) -> list:
    """`down` with the home's lock held."""
    state = _read_state(home_path)
    if state is None:
        log(f"No Airflow started by mfairflow under {home_path}.")
        return []
    pids = state["pids"]
    servers = {name: rec for name, rec in pids.items() if name != "postgres"}
    stopped = processes.stop(servers, reap=_reap)
    if state.get("token"):
        processes.kill_strays(state["token"], keep=[])
    if "postgres" in pids:
        # SIGINT: PostgreSQL's fast shutdown (SIGTERM waits for every client to leave).
        postgres = {"postgres": pids["postgres"]}
        stopped += processes.stop(postgres, signals={"postgres": signal.SIGINT}, reap=_reap)
    for name in pids:
        (home_path / f"{name}.pid").unlink(missing_ok=True)
    (home_path / STATE_FILE).unlink()
    log(f"Stopped {', '.join(stopped) or 'nothing (already stopped)'} under {home_path}.")
    return stopped


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(home: str) -> dict:
    """Which processes of the Airflow under ``home`` run: name → pid (None when stopped)."""
    state = _read_state(Path(home).resolve())
    if state is None:
        return {}
    return {
        name: (rec["pid"] if processes.leader_alive(rec) else None)
        for name, rec in state["pids"].items()
    }


def database(home: str) -> Optional[str]:
    """Where the home's Airflow keeps its database, in words; None without a state file."""
    home_path = Path(home).resolve()
    state = _read_state(home_path)
    if state is None:
        return None
    if state["database"] == "postgres":
        return f"postgres (socket {local_postgres.socket_path(home_path)})"
    return f"sqlite ({home_path / 'airflow.db'})"
