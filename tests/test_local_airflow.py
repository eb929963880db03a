"""`mfairflow airflow up/down` bookkeeping without an Airflow: a pid in the state file that
names another process now is never signalled, one `up`/`down` at a time per home, and the
PostgreSQL address Airflow gets for any home path."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from mfairflow.live import local_airflow, local_postgres, processes


def sleeper() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "300"], start_new_session=True)


def write_state(home: Path, pids: dict) -> None:
    home.mkdir(parents=True, exist_ok=True)
    state = {
        "port": 1,
        "major": 3,
        "password": "x",
        "secret": "y",
        "log_port": 2,
        "token": "t0k3n",
        "airflow": "airflow",
        "database": "sqlite",
        "parallelism": 4,
        "pids": pids,
    }
    (home / local_airflow.STATE_FILE).write_text(json.dumps(state))


def test_down_leaves_alone_a_process_that_took_a_recorded_pid(tmp_path):
    ours, stranger = sleeper(), sleeper()
    try:
        record = processes.record(stranger.pid)
        # The state names the stranger's pid with another start time: the process `up`
        # started there is gone and the pid was reused.
        reused = {"pid": stranger.pid, "start": record["start"] - 1}
        write_state(
            tmp_path / "home", {"scheduler": reused, "api-server": processes.record(ours.pid)}
        )
        assert local_airflow.status(str(tmp_path / "home")) == {
            "scheduler": None,
            "api-server": ours.pid,
        }
        stopped = local_airflow.down(str(tmp_path / "home"), log=lambda _msg: None)
        assert stopped == ["api-server"]
        assert ours.wait(timeout=30) is not None
        time.sleep(0.5)
        assert stranger.poll() is None, "down signalled a process it did not start"
        assert not (tmp_path / "home" / local_airflow.STATE_FILE).exists()
    finally:
        for proc in (ours, stranger):
            proc.kill()
            proc.wait()


def test_a_second_down_waits_for_the_home_lock(tmp_path):
    home = tmp_path / "home"
    write_state(home, {})
    with processes.home_lock(home, log=lambda _msg: None):
        down = subprocess.Popen(
            [sys.executable, "-m", "mfairflow", "airflow", "down", "--home", str(home)],
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert down.poll() is None  # blocked on the lock
        assert (home / local_airflow.STATE_FILE).exists()
    _, err = down.communicate(timeout=60)
    assert down.returncode == 0, err
    assert "Waiting for another `mfairflow airflow up/down`" in err
    assert not (home / local_airflow.STATE_FILE).exists()


def test_postgres_address_holds_any_home_path():
    from sqlalchemy.engine import make_url

    home = Path("/srv/a b/$(touch x) %41 ${HOME}/h?o#me")
    url = make_url(local_postgres.sqlalchemy_url(home))
    assert url.query["host"] == str(home / "postgres")
    assert url.drivername == "postgresql+psycopg2" and url.database == "airflow"
    assert "$" not in local_postgres.sqlalchemy_url(home)  # Airflow expands $VARS in settings
