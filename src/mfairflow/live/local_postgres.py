"""PostgreSQL for the local Airflow (`mfairflow airflow up --database postgres`).

Debian's `postgresql` server (installed by `make install`) with its data folder in
``<home>/postgres``, listening on a unix socket in that folder only (no TCP port): the folder is
mode 700 and owned by the server's user, so only that user and root reach the socket, and local
connections need no password. PostgreSQL refuses to run as root: under root, the server runs as
the `postgres` user that Debian's package creates. That user may not be able to walk down to a
home under root's folders (/root, pytest's /tmp/pytest-of-root are mode 700), so it gets the data
folder as a directory opened by root and passed down (``/proc/self/fd/N``), never a wider mode
on the folders above it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from .client import AirflowError

DATA = "postgres"
PORT = 5432  # names the socket file (.s.PGSQL.5432); nothing listens on TCP
DB_USER = "airflow"
DB_NAME = "airflow"
SERVER_USER = "postgres"
# A unix socket's path is at most 107 bytes (sun_path).
MAX_SOCKET_PATH = 107


def data_dir(home: Path) -> Path:
    """The data folder (and socket folder) of the home's PostgreSQL."""
    return home / DATA


def initialized(home: Path) -> bool:
    """Whether the home has a PostgreSQL data folder already (an earlier `up`)."""
    return (data_dir(home) / "PG_VERSION").exists()


def bin_dir() -> Path:
    """The folder of `postgres`, `initdb` and `pg_isready` (Debian keeps them off PATH)."""
    found = shutil.which("pg_config")
    candidates = []
    if found:
        proc = subprocess.run([found, "--bindir"], capture_output=True, text=True, timeout=30)
        candidates.append(Path(proc.stdout.strip()))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in [*candidates, *versions]:
        if (folder / "postgres").exists() and (folder / "initdb").exists():
            return folder
    raise AirflowError(
        "no PostgreSQL server found (postgres, initdb)",
        hint="install Debian's `postgresql` package (`make install` does), or use "
        "--database sqlite",
    )


def socket_path(home: Path) -> Path:
    """The socket file clients connect to."""
    return data_dir(home) / f".s.PGSQL.{PORT}"


def sqlalchemy_url(home: Path) -> str:
    """Airflow's `sql_alchemy_conn` for the home's PostgreSQL (over its socket)."""
    # Percent-quoted: Airflow expands $VARS in settings read from the environment.
    host = quote(str(data_dir(home)), safe="/")
    return f"postgresql+psycopg2://{DB_USER}@/{DB_NAME}?host={host}"


def _server_user() -> Optional[pwd.struct_passwd]:
    """The user the server runs as: `postgres` under root, else None (the caller itself)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise AirflowError(
            f"PostgreSQL refuses to run as root and there is no {SERVER_USER!r} user",
            hint="install Debian's `postgresql` package (it creates the user), or run "
            "`mfairflow airflow up` as another user",
        ) from None


class Server:
    """How to run one PostgreSQL command on the home's data folder (as the right user)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.bin = bin_dir()
        self.user = _server_user()
        if len(str(socket_path(home)).encode()) > MAX_SOCKET_PATH:
            raise AirflowError(
                f"the path of PostgreSQL's socket in {home} is longer than a unix socket takes "
                f"({MAX_SOCKET_PATH} bytes)",
                hint="choose a shorter --home",
            )

    def _folder(self) -> None:
        folder = data_dir(self.home)
        folder.mkdir(mode=0o700, exist_ok=True)
        if self.user is not None:
            os.chown(folder, self.user.pw_uid, self.user.pw_gid)
        os.chmod(folder, 0o700)

    def popen_args(self, fd: int) -> tuple:
        """(data folder argument, Popen keywords) with the folder passed down as ``fd``."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": "UTC"}
        if self.user is None:
            return str(data_dir(self.home)), {"env": env}
        return f"/proc/self/fd/{fd}", {
            "env": env,
            "cwd": "/",
            "user": self.user.pw_uid,
            "group": self.user.pw_gid,
            "extra_groups": [],
            "pass_fds": (fd,),
        }

    def open_folder(self) -> int:
        """The data folder opened for the server (closed by the caller after the start)."""
        self._folder()
        return os.open(data_dir(self.home), os.O_RDONLY | os.O_DIRECTORY)

    def initdb(self) -> None:
        """Create the data folder's cluster (superuser `airflow`, local trust, no TCP)."""
        fd = self.open_folder()
        try:
            folder, kwargs = self.popen_args(fd)
            proc = subprocess.run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    folder,
                    "-U",
                    DB_USER,
                    "--auth-local=trust",
                    "--auth-host=reject",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ],
                capture_output=True,
                text=True,
                timeout=300,
                **kwargs,
            )
        finally:
            os.close(fd)
        if proc.returncode != 0:
            raise AirflowError(
                f"`initdb` failed: {(proc.stderr or proc.stdout).strip()[-1500:]}",
                hint=f"see {data_dir(self.home)}; remove it to start from scratch",
            )

    def command(self, folder: str) -> list:
        """The server's command line: the socket in the data folder, no TCP."""
        return [
            str(self.bin / "postgres"),
            "-D",
            folder,
            "-p",
            str(PORT),
            "-k",
            folder,
            "-c",
            "listen_addresses=",
            # Airflow's api-server, scheduler, dag-processor and tasks each keep a pool.
            "-c",
            "max_connections=300",
        ]

    def wait_ready(self, alive, timeout_s: float = 120) -> None:
        """Wait until the server accepts connections; create Airflow's database once."""
        deadline = time.monotonic() + timeout_s
        check = [str(self.bin / "pg_isready"), "-q", "-h", str(data_dir(self.home)), "-p"]
        while True:
            ready = subprocess.run([*check, str(PORT)], capture_output=True, timeout=60)
            if ready.returncode == 0:
                break
            if not alive():
                raise AirflowError(
                    "PostgreSQL stopped while starting",
                    hint=f"see {self.home / 'logs' / 'postgres.log'}",
                )
            if time.monotonic() > deadline:
                raise AirflowError(
                    f"PostgreSQL did not accept connections within {timeout_s:.0f} s",
                    hint=f"see {self.home / 'logs' / 'postgres.log'}",
                )
            time.sleep(0.5)
        self._create_database()

    def _create_database(self) -> None:
        psql = [
            str(self.bin / "psql"),
            "-h",
            str(data_dir(self.home)),
            "-p",
            str(PORT),
            "-U",
            DB_USER,
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if exists.stdout.strip() == "1":
            return
        made = subprocess.run(
            [*psql, f"CREATE DATABASE {DB_NAME}"], capture_output=True, text=True, timeout=120
        )
        if made.returncode != 0:
            raise AirflowError(
                f"creating Airflow's database failed: {made.stderr.strip()[-1500:]}",
                hint=f"see {self.home / 'logs' / 'postgres.log'}",
            )
