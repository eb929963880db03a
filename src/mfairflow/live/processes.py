"""The processes of a local Airflow: who they are, how to stop them, and one lock per home.

Each server `up` starts leads a process group of its own; the state file keeps its pid and its
start time (from /proc), because pids are reused: a pid whose process started at another time
belongs to someone else now and is never signalled. Every process `up` starts carries a marker
in its environment (MARKER=<token of this home>) that the tasks and the step processes it forks
inherit, so the ones that outlive their group (a step runs in a session of its own) are found
too, and only those.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from .client import AirflowError

MARKER = "MFAIRFLOW_LOCAL_AIRFLOW"
PROC = Path("/proc")


def _stat(pid: int) -> Optional[list]:
    """The fields of /proc/PID/stat after the command name; None if the process does not run
    (a zombie, dead and not yet reaped, runs no more)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its end.
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields


def start_time(pid: int) -> Optional[int]:
    """When the process ``pid`` started (clock ticks since boot); None if none runs."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def _group_of(pid: int) -> Optional[int]:
    fields = _stat(pid)
    return int(fields[2]) if fields else None


def record(pid: int) -> dict:
    """What the state file keeps of a process just started."""
    return {"pid": pid, "start": start_time(pid)}


def leader_alive(rec: dict) -> bool:
    """Whether the process recorded still runs (the same process, not a reused pid)."""
    started = start_time(rec["pid"])
    if started is None:
        return False
    if rec.get("start") is None:  # a state file written before start times were kept
        return _mentions(rec["pid"], b"airflow") or _mentions(rec["pid"], b"postgres")
    return started == rec["start"]


def _mentions(pid: int, word: bytes) -> bool:
    try:
        return word in (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False


def members(rec: dict) -> list:
    """The pids of the recorded process group that still run (its leader included).

    A group whose leader's pid now names another process is not ours: Linux reuses no pid
    while a group of that id has members, so our group had none left when it was reused."""
    pid = rec["pid"]
    if start_time(pid) is not None and not leader_alive(rec):
        return []
    return [p for p in _pids() if _group_of(p) == pid]


def _pids() -> list:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def marked(token: str) -> list:
    """Pids of the processes whose environment carries this home's marker."""
    wanted = f"{MARKER}={token}".encode()
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            environ = (PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            found.append(pid)
    return found


def _signal(pids: list, sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop(
    recs: dict, signals: Optional[dict] = None, grace_s: float = 30.0, reap=lambda _pid: None
) -> list:
    """Stop the recorded groups (name → record): each gets its signal (SIGTERM unless
    ``signals`` names another), then SIGKILL for what is left after ``grace_s``. Returns
    the names whose leader still ran."""
    signals = signals or {}
    stopped = [name for name, rec in recs.items() if leader_alive(rec)]
    for name, rec in recs.items():
        _signal(members(rec), signals.get(name, signal.SIGTERM))
    deadline = time.monotonic() + grace_s
    for rec in recs.values():
        while members(rec) and time.monotonic() < deadline:
            reap(rec["pid"])
            time.sleep(0.2)
        _signal(members(rec), signal.SIGKILL)
        reap(rec["pid"])
    return stopped


def kill_strays(token: str, keep: list) -> list:
    """SIGKILL the marked processes outside the groups ``keep`` (records of servers that
    run on): the tasks and steps a dead scheduler left behind. Returns their pids."""
    kept = {pid for rec in keep for pid in members(rec)}
    strays = [pid for pid in marked(token) if pid not in kept]
    _signal(strays, signal.SIGKILL)
    return strays


@contextmanager
def home_lock(home: Path, log: Callable[[str], None], timeout_s: float = 900) -> Iterator[None]:
    """Hold the home's lock file: one `up` or `down` at a time on one home."""
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / "mfairflow-airflow.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if not waiting:
                log(f"Waiting for another `mfairflow airflow up/down` on {home} ...")
                waiting = True
            if time.monotonic() > deadline:
                raise AirflowError(
                    f"another `mfairflow airflow up/down` holds {home} for more than "
                    f"{timeout_s:.0f} s",
                    hint="wait for it to end, or stop it",
                )
            time.sleep(0.5)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock
