"""`mfairflow airflow up/down/status`: a local Airflow on 127.0.0.1 for development and tests.

Airflow 3: api-server, scheduler (LocalExecutor) and dag-processor; Airflow 2 (for smoke tests):
webserver (basic auth on /api/v1) and scheduler (SequentialExecutor: Airflow 2 refuses the
LocalExecutor on SQLite). Every process runs in its own process group whose id is kept in a pid
file under the home folder, so `down` stops exactly what `up` started, with the workers and step
processes they forked.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .client import AirflowClient, AirflowConfig, AirflowError

STATE_FILE = "mfairflow-airflow.json"
USERNAME = "admin"
UP_TIMEOUT_S = 300


@dataclass(frozen=True)
class LocalAirflow:
    """A running local Airflow: where it lives and how to reach it."""

    home: Path
    port: int
    major: int
    password: str

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


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(
    home: Path, port: int, major: int, secret: str, airflow: str, log_port: int
) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    # Airflow 2's executors run `airflow tasks run` from PATH: this Airflow's, not another.
    bin_dir = os.path.dirname(os.path.abspath(airflow))
    env.update(
        {
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # The scheduler's log server (8793 by default, on every interface): each home gets
            # its own port, so that two local Airflows do not fight over one.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    # SQLite: the scheduler and dag-processor wait up to 60 s for the lock (the default, 5 s,
    # crashed the scheduler with "database is locked" while several runs started at once on a
    # loaded machine). The api-server gives up after 10 s (see API_ENV): concurrent requests can
    # deadlock on SQLite's lock until one side's wait ends, so a long wait there stalled every
    # request for a minute; a short one ends such a deadlock with a 500 that clients retry.
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
                "AIRFLOW__API_AUTH__JWT_SECRET": secret,
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
                "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
                "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
                "AIRFLOW__WEBSERVER__SECRET_KEY": secret,
                "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(port),
                "AIRFLOW__WEBSERVER__WORKERS": "1",
                "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            }
        )
    return env


# What the api-server's environment changes (its SQLite lock wait, see _environment).
API_ENV = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "mfairflow_sqlite.API_CONNECT_ARGS",
}

# The scheduler runs the tasks (LocalExecutor / SequentialExecutor children): at a lower CPU
# priority they leave the API server its share of a small machine while runs are busy, so that
# the CLI's calls are answered promptly.
NICE = ("scheduler",)
NICE_INCREMENT = 10


def _lower_priority() -> None:
    """In the child before exec: lower its CPU priority (the tasks it starts inherit it)."""
    os.nice(NICE_INCREMENT)


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _read_state(home: Path) -> Optional[dict]:
    path = home / STATE_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def running(home: Path) -> Optional[LocalAirflow]:
    """The Airflow `up` started under ``home``, if all its processes still run."""
    state = _read_state(home)
    if not state or not all(_alive(pid) for pid in state["pids"].values()):
        return None
    return LocalAirflow(home, state["port"], state["major"], state["password"])


def up(
    home: str,
    port: int = 8080,
    airflow: Optional[str] = None,
    timeout_s: float = UP_TIMEOUT_S,
    log=print,
) -> LocalAirflow:
    """Start (or reuse) a local Airflow under ``home`` and wait until its API answers."""
    home_path = Path(home).resolve()
    existing = running(home_path)
    if existing is not None:
        log(f"Airflow already runs under {home_path} (port {existing.port}); reusing it.")
        _wait_api(existing, timeout_s)
        return existing
    if _read_state(home_path) is not None:  # a partly dead instance: clean it up first
        down(str(home_path), log=log)
    airflow = airflow or airflow_binary()
    major = airflow_major(airflow)
    (home_path / "dags").mkdir(parents=True, exist_ok=True)
    (home_path / "logs").mkdir(exist_ok=True)
    secret = secrets.token_hex(16)
    env = _environment(home_path, port, major, secret, airflow, _free_port())
    log(f"Migrating the Airflow {major} database under {home_path} ...")
    migrate = subprocess.run(
        [airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    if migrate.returncode != 0:
        raise AirflowError(
            f"`airflow db migrate` failed: {migrate.stderr.strip()[-1500:]}",
            hint=f"see {home_path}; remove it to start from scratch",
        )
    password = secrets.token_urlsafe(12)
    if major >= 3:
        commands = {
            "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            "scheduler": [airflow, "scheduler"],
            "dag-processor": [airflow, "dag-processor"],
        }
        passwords = home_path / "simple_auth_manager_passwords.json.generated"
        # A restart keeps the credentials (the exports a shell holds stay valid); the token
        # secret is new, so a client logs in again.
        password = _kept_password(passwords) or password
        passwords.write_text(json.dumps({USERNAME: password}))
        os.chmod(passwords, 0o600)
    else:
        user = subprocess.run(
            [
                airflow,
                "users",
                "create",
                "--username",
                USERNAME,
                # One word: a random password may start with "-" (argparse then takes it for
                # an option).
                f"--password={password}",
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
            capture_output=True,
            text=True,
            timeout=300,
        )
        if user.returncode != 0:
            raise AirflowError(
                f"`airflow users create` failed: {user.stderr.strip()[-1500:]}",
                hint=f"see {home_path}",
            )
        commands = {
            "webserver": [airflow, "webserver", "--hostname", "127.0.0.1", "--port", str(port)],
            "scheduler": [airflow, "scheduler"],
        }
    pids = {}
    try:
        for name, command in commands.items():
            with open(home_path / "logs" / f"{name}.log", "ab") as out:
                proc = subprocess.Popen(
                    command,
                    env={**env, **API_ENV} if name == "api-server" else env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=_lower_priority if name in NICE else None,
                )
            pids[name] = proc.pid
            (home_path / f"{name}.pid").write_text(f"{proc.pid}\n")
        state = {"port": port, "major": major, "password": password, "pids": pids}
        state_path = home_path / STATE_FILE
        state_path.write_text(json.dumps(state))
        os.chmod(state_path, 0o600)
        instance = LocalAirflow(home_path, port, major, password)
        log(f"Started {', '.join(commands)}; waiting for the API at {instance.url} ...")
        _wait_api(instance, timeout_s)
    except BaseException:
        down(str(home_path), log=lambda _msg: None)
        raise
    return instance


def _kept_password(passwords: Path) -> Optional[str]:
    """The password an earlier `up` under this home gave the user, if any."""
    try:
        password = json.loads(passwords.read_text()).get(USERNAME)
    except (OSError, ValueError, AttributeError):
        return None
    return password if isinstance(password, str) and password else None


def _wait_api(instance: LocalAirflow, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: Optional[Exception] = None
    while time.monotonic() < deadline:
        state = _read_state(instance.home)
        if state and not all(_alive(pid) for pid in state["pids"].values()):
            dead = [name for name, pid in state["pids"].items() if not _alive(pid)]
            raise AirflowError(
                f"Airflow's {', '.join(dead)} stopped while starting",
                hint=f"see {instance.home / 'logs'}/<name>.log",
            )
        try:
            client = AirflowClient(instance.config(), timeout=10)
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
    """Stop the processes `up` started under ``home`` (by their process groups)."""
    home_path = Path(home).resolve()
    state = _read_state(home_path)
    if state is None:
        log(f"No Airflow started by mfairflow under {home_path}.")
        return []
    stopped = []
    for name, pid in state["pids"].items():
        if _alive(pid):
            os.killpg(pid, signal.SIGTERM)
            stopped.append(name)
    deadline = time.monotonic() + 30
    for pid in state["pids"].values():
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        _reap(pid)
    for name in state["pids"]:
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
    return {name: (pid if _alive(pid) else None) for name, pid in state["pids"].items()}
