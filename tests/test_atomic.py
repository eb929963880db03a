"""A failed or interrupted create never leaves a broken or half-written DAG file behind."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, compile_flow

from mfairflow import render

FLOW = ROOT / "examples" / "my_flow.py"
OLD = "# the previous, deployed DAG file\n"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "prev_dag.py")


@pytest.fixture
def previous(tmp_path) -> Path:
    dags = tmp_path / "dags"
    dags.mkdir()
    path = dags / "prev_dag.py"
    path.write_text(OLD)
    return path


def broken_templates(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "dag.py.jinja").write_text(body)
    return folder


@pytest.mark.parametrize(
    "template, message",
    [
        (
            '{% extends "mfairflow/dag.py.jinja" %}{% block header %}{{ oops(}}{% endblock %}',
            "template error",
        ),
        (
            '{% extends "mfairflow/dag.py.jinja" %}{% block header %}{{ dag.nope }}{% endblock %}',
            "template error",
        ),
        (
            '{% extends "mfairflow/dag.py.jinja" %}{% block header %}def broken(:{% endblock %}',
            "not valid Python",
        ),
    ],
    ids=["jinja-syntax", "undefined-field", "invalid-python"],
)
def test_template_failures_leave_the_previous_file(tmp_path, previous, template, message):
    folder = broken_templates(tmp_path, template)
    result = compile_flow(
        FLOW, tmp_path, "--template-dir", str(folder), dag_name="../dags/prev_dag.py"
    )
    assert result.proc.returncode == 2, result.proc.stderr
    assert message in result.proc.stderr
    assert "hint:" in result.proc.stderr and "Traceback" not in result.proc.stderr
    assert previous.read_text() == OLD
    assert leftovers(previous.parent) == []


def test_disk_full_during_write_leaves_the_previous_file(previous, monkeypatch):
    real_fsync = os.fsync

    def full_disk(fd):
        real_fsync(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(render.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        render.write_atomically(str(previous), "NEW = 1\n" * 1000)
    assert previous.read_text() == OLD
    assert leftovers(previous.parent) == []


def test_kill_between_write_and_rename_leaves_no_parsable_file(previous):
    script = textwrap.dedent(f"""
        import os, signal
        from mfairflow import render
        render.os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)
        render.write_atomically({str(previous)!r}, "NEW = 1\\n")
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    assert previous.read_text() == OLD
    # What a kill leaves behind is a hidden *.tmp file: Airflow only parses *.py files.
    for name in leftovers(previous.parent):
        assert name.startswith(".") and name.endswith(".tmp"), name


def test_write_keeps_the_mode_of_the_file_it_replaces(previous):
    previous.chmod(0o640)
    render.write_atomically(str(previous), "NEW = 1\n")
    assert previous.read_text() == "NEW = 1\n"
    assert previous.stat().st_mode & 0o777 == 0o640


def test_concurrent_creates_end_with_one_complete_file(tmp_path):
    flow_dir = tmp_path / "flow"
    flow_dir.mkdir()
    (flow_dir / "my_flow.py").write_text(FLOW.read_text())
    dag = tmp_path / "dags" / "my_dag.py"
    dag.parent.mkdir()
    single = compile_flow(FLOW, tmp_path / "single", dag_name="expected.py")
    assert single.proc.returncode == 0
    from conftest import clean_env

    env = clean_env(tmp_path)
    cmd = [sys.executable, "my_flow.py", "airflow", "create", str(dag), "--offline"]
    procs = [
        subprocess.Popen(cmd, cwd=flow_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    assert dag.read_text() == single.source.replace("expected.py", "my_dag.py")
    assert sorted(p.name for p in dag.parent.iterdir()) == ["my_dag.py"]
