"""Issue 13, items 3 and 4: a reproducible code package that --check compares, and no file of
the user's (flow, DAG, config) ever overwritten by `create` or `--emit-model`."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT, compile_flow

from mfairflow.deploy import INFO_ARCNAME, INFO_KEYS_STEPS_NEED, reproducible_package

FLOW = ROOT / "examples" / "my_flow.py"
SHA = re.compile(r'"METAFLOW_CODE_SHA": "([0-9a-f]{40})"')


def code_sha(source: str) -> str:
    match = SHA.search(source)
    assert match, "the DAG names no code package"
    return match.group(1)


# --------------------------------------------------------------------------------------------
# Item 3: the same code gives the same content address.
# --------------------------------------------------------------------------------------------


def metaflow_like_tgz(order, uid, mode, mtime, info, gzip_mtime) -> bytes:
    """A .tgz laid out as Metaflow's packager does, with machine-dependent metadata."""
    files = {
        "flow.py": b"print('flow')\n",
        "lib/util.py": b"X = 1\n",
        INFO_ARCNAME: json.dumps(info).encode(),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name in order:
            entry = tarfile.TarInfo(name)
            entry.size, entry.uid, entry.gid = len(files[name]), uid, uid
            entry.uname = entry.gname = f"user{uid}"
            entry.mode, entry.mtime = mode, mtime
            archive.addfile(entry, io.BytesIO(files[name]))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="x.tar", fileobj=packed, mode="wb", mtime=gzip_mtime) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def test_reproducible_package_drops_machine_metadata_but_keeps_the_code():
    common = {"metaflow_version": "2.19.39", "ext_info": [{"a": 1}, {"plugins": []}]}
    one = metaflow_like_tgz(
        ["flow.py", "lib/util.py", INFO_ARCNAME],
        uid=1000,
        mode=0o664,
        mtime=1,
        info={**common, "username": "alice", "commit_sha": "abc", "platform": "Linux"},
        gzip_mtime=10,
    )
    two = metaflow_like_tgz(
        [INFO_ARCNAME, "lib/util.py", "flow.py"],
        uid=501,
        mode=0o600,
        mtime=2,
        info={"platform": "Darwin", "username": "bob", "python_version": "3.12", **common},
        gzip_mtime=20,
    )
    assert one != two
    assert reproducible_package(one) == reproducible_package(two)
    assert reproducible_package(reproducible_package(one)) == reproducible_package(one)
    with tarfile.open(fileobj=io.BytesIO(reproducible_package(one)), mode="r:gz") as archive:
        names = archive.getnames()
        assert names == sorted(names)
        assert archive.extractfile("lib/util.py").read() == b"X = 1\n"
        info = json.loads(archive.extractfile(INFO_ARCNAME).read())
        assert info == common
        assert {(m.uid, m.gid, m.uname, m.gname, m.mode) for m in archive} == {
            (0, 0, "", "", 0o644)
        }
    # A change in the code is a change of the address.
    changed = metaflow_like_tgz(
        ["flow.py", "lib/util.py", INFO_ARCNAME],
        uid=1000,
        mode=0o664,
        mtime=1,
        info={**common, "metaflow_version": "2.19.40"},
        gzip_mtime=10,
    )
    assert reproducible_package(changed) != reproducible_package(one)
    assert INFO_KEYS_STEPS_NEED >= set(common)


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=a@example.com", "-c", "user.name=a", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


def test_same_code_same_address_from_other_copies_times_users_and_git_states(tmp_path):
    first = compile_flow(FLOW, tmp_path / "one")
    assert first.proc.returncode == 0, first.proc.stderr
    # Another copy of the same flow, elsewhere, with other file times, another user and runtime
    # name, inside a git repository with a commit (git state goes into Metaflow's INFO file).
    other = tmp_path / "two"
    flow_dir = other / f"flow_{FLOW.stem}"
    flow_dir.mkdir(parents=True)
    shutil.copy(FLOW, flow_dir / FLOW.name)
    os.utime(flow_dir / FLOW.name, (1_000_000_000, 1_000_000_000))
    os.chmod(flow_dir / FLOW.name, 0o600)
    git(flow_dir, "init", "-q", ".")
    git(flow_dir, "add", ".")
    git(flow_dir, "commit", "-qm", "flow")
    env = {"USER": "someone", "METAFLOW_USER": "someone", "METAFLOW_RUNTIME_NAME": "ci"}
    second = compile_flow(FLOW, other, env=env, flow_text=(flow_dir / FLOW.name).read_text())
    assert second.proc.returncode == 0, second.proc.stderr
    assert code_sha(first.source) == code_sha(second.source)
    # A change of the code is a change of the address.
    changed = compile_flow(FLOW, tmp_path / "three", flow_text=FLOW.read_text() + "\n# changed\n")
    assert changed.proc.returncode == 0, changed.proc.stderr
    assert code_sha(changed.source) != code_sha(first.source)


def swap_address(source: str, new: str) -> str:
    old = code_sha(source)
    return source.replace(f"{old[:2]}/{old}", f"{new[:2]}/{new}").replace(old, new)


def test_check_fails_on_a_swapped_code_package_unless_told_to_ignore_it(tmp_path):
    generated = compile_flow(FLOW, tmp_path)
    assert generated.proc.returncode == 0, generated.proc.stderr
    fresh = compile_flow(FLOW, tmp_path, "--check", offline=False)
    assert fresh.proc.returncode == 0, fresh.proc.stdout + fresh.proc.stderr

    swapped = swap_address(generated.source, "f" * 40)
    assert swapped != generated.source and code_sha(swapped) == "f" * 40
    generated.dag_path.write_text(swapped)
    stale = compile_flow(FLOW, tmp_path, "--check", offline=False)
    assert stale.proc.returncode == 1, stale.proc.stderr
    assert re.search(r"^-.*f{40}", stale.proc.stdout, re.M)
    assert "only the code package's content address differs" in stale.proc.stderr
    assert "--ignore-code-address" in stale.proc.stderr

    ignored = compile_flow(FLOW, tmp_path, "--check", "--ignore-code-address", offline=False)
    assert ignored.proc.returncode == 0, ignored.proc.stdout + ignored.proc.stderr
    assert "is up to date" in ignored.proc.stderr
    # Anything else that differs is still a difference.
    generated.dag_path.write_text(swapped + "# an edit\n")
    edited = generated.dag_path.stat().st_mtime_ns
    other = compile_flow(FLOW, tmp_path, "--check", "--ignore-code-address", offline=False)
    assert other.proc.returncode == 1
    assert re.search(r"^-# an edit$", other.proc.stdout, re.M)
    assert generated.dag_path.stat().st_mtime_ns == edited


# --------------------------------------------------------------------------------------------
# Item 4: nothing of the user's is overwritten.
# --------------------------------------------------------------------------------------------


def assert_user_error(compiled, *fragments: str) -> None:
    proc = compiled.proc
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error: " in proc.stderr and "hint: " in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr


def test_a_dag_path_through_a_symlinked_folder_onto_the_flow_is_refused(tmp_path):
    flow_dir = tmp_path / f"flow_{FLOW.stem}"
    flow_dir.mkdir()
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "link").symlink_to(flow_dir)
    compiled = compile_flow(FLOW, tmp_path, dag_name=f"link/{FLOW.name}")
    assert_user_error(compiled, "the DAG file is the flow file itself")
    assert compiled.flow_path.read_text() == FLOW.read_text()


def test_a_hard_link_to_the_flow_is_refused(tmp_path):
    flow_dir = tmp_path / f"flow_{FLOW.stem}"
    flow_dir.mkdir()
    shutil.copy(FLOW, flow_dir / FLOW.name)
    (tmp_path / "dags").mkdir()
    os.link(flow_dir / FLOW.name, tmp_path / "dags" / "hard_dag.py")
    compiled = compile_flow(FLOW, tmp_path, dag_name="hard_dag.py")
    assert_user_error(compiled, "the DAG file is the flow file itself")
    assert compiled.flow_path.read_text() == FLOW.read_text()


def test_a_dag_path_that_is_a_folder_is_a_clear_error(tmp_path):
    (tmp_path / "dags" / "folder.py").mkdir(parents=True)
    compiled = compile_flow(FLOW, tmp_path, dag_name="folder.py")
    assert_user_error(compiled, "is an existing folder")


@pytest.mark.parametrize("target", ["flow", "dag_path", "existing_dag", "config", "py"])
def test_emit_model_never_overwrites_the_flow_a_dag_or_another_file(tmp_path, target):
    first = compile_flow(FLOW, tmp_path)
    assert first.proc.returncode == 0, first.proc.stderr
    other_dag = first.dag_path  # an existing generated DAG
    config = tmp_path / "mfairflow.yaml"
    config.write_text("retries: 1\n")
    paths = {
        "flow": (first.flow_path, "is the flow file"),
        "dag_path": (first.dag_path, "is the DAG file"),
        "existing_dag": (other_dag, "is the DAG file"),
        "config": (config, "is not a model written by --emit-model"),
        "py": (tmp_path / "dags" / "model.py", "ends in .py"),
    }
    path, message = paths[target]
    if target == "existing_dag":
        # Write the DAG elsewhere; the model path names the DAG generated before.
        args = ("--emit-model", str(path))
        dag_name = "second_dag.py"
        message = "is an existing DAG file"
    else:
        args = ("--emit-model", str(path))
        dag_name = None
    snapshot = {p: p.read_bytes() for p in (first.flow_path, first.dag_path, config)}
    compiled = compile_flow(FLOW, tmp_path, *args, dag_name=dag_name, flow_text=FLOW.read_text())
    assert_user_error(compiled, message)
    for p, content in snapshot.items():
        assert p.read_bytes() == content, p
    assert not (tmp_path / "dags" / "model.py").exists()
    assert not (tmp_path / "dags" / "second_dag.py").exists()


def test_emit_model_replaces_an_earlier_model(tmp_path):
    model = tmp_path / "model.yaml"
    for _ in range(2):
        compiled = compile_flow(FLOW, tmp_path, "--emit-model", str(model))
        assert compiled.proc.returncode == 0, compiled.proc.stderr
    assert model.read_text().startswith("# The model of a DAG, written by mfairflow")


def test_emit_model_into_a_missing_folder_or_onto_a_folder_is_a_clear_error(tmp_path):
    missing = compile_flow(FLOW, tmp_path, "--emit-model", str(tmp_path / "nope" / "m.yaml"))
    assert_user_error(missing, "of the model file does not exist")
    assert not missing.dag_path.exists()
    (tmp_path / "m.yaml").mkdir()
    folder = compile_flow(FLOW, tmp_path, "--emit-model", str(tmp_path / "m.yaml"))
    assert_user_error(folder, "is an existing folder")


def test_check_with_emit_model_is_refused_and_writes_nothing(tmp_path):
    generated = compile_flow(FLOW, tmp_path)
    assert generated.proc.returncode == 0, generated.proc.stderr
    before = generated.dag_path.read_bytes()
    model = tmp_path / "model.yaml"
    compiled = compile_flow(FLOW, tmp_path, "--check", "--emit-model", str(model), offline=False)
    assert_user_error(compiled, "--emit-model cannot be used with --check")
    assert not model.exists()
    assert generated.dag_path.read_bytes() == before
    assert sorted(p.name for p in generated.dag_path.parent.iterdir()) == [generated.dag_path.name]


# --------------------------------------------------------------------------------------------
# Issue 21, item 3: `create` overwrites only a DAG file mfairflow generated.
# --------------------------------------------------------------------------------------------

HAND_WRITTEN = "# Two teams' DAGs, written by hand.\nfrom airflow.sdk import DAG\n"
METAFLOWS_OWN = "# Deployed on 2024-01-01\nCONFIG = {'dag_instantiation_params': {}}\n"


@pytest.mark.parametrize("content", [HAND_WRITTEN, METAFLOWS_OWN, ""])
def test_create_refuses_to_overwrite_a_file_mfairflow_did_not_write(tmp_path, content):
    dag = tmp_path / "dags" / "my_flow_dag.py"
    dag.parent.mkdir()
    dag.write_text(content)
    compiled = compile_flow(FLOW, tmp_path)
    assert_user_error(compiled, "exists and was not generated by mfairflow")
    assert dag.read_text() == content
    # --check writes nothing, so it may compare against any file.
    checked = compile_flow(FLOW, tmp_path, "--check")
    assert checked.proc.returncode == 1, checked.proc.stderr
    assert dag.read_text() == content


def test_create_refuses_a_symlink_to_a_foreign_file_and_a_fifo(tmp_path):
    (tmp_path / "dags").mkdir()
    foreign = tmp_path / "team.py"
    foreign.write_text(HAND_WRITTEN)
    (tmp_path / "dags" / "linked.py").symlink_to(foreign)
    linked = compile_flow(FLOW, tmp_path, dag_name="linked.py")
    assert_user_error(linked, "was not generated by mfairflow")
    assert foreign.read_text() == HAND_WRITTEN
    os.mkfifo(tmp_path / "dags" / "fifo.py")
    fifo = compile_flow(FLOW, tmp_path, dag_name="fifo.py")  # must not block on the FIFO
    assert_user_error(fifo, "was not generated by mfairflow")


def test_create_overwrites_the_dag_it_generated_and_the_default_path_is_checked(tmp_path):
    from conftest import clean_env

    first = compile_flow(FLOW, tmp_path)
    assert first.proc.returncode == 0, first.proc.stderr
    first.dag_path.write_text(first.source + "# an edit\n")
    again = compile_flow(FLOW, tmp_path, flow_text=FLOW.read_text())
    assert again.proc.returncode == 0, again.proc.stderr
    assert "# an edit" not in again.source
    # The default path ($METAFLOW_AIRFLOW_DAGS_FOLDER/<dag id>.py), as the Deployer writes it.
    dags = tmp_path / "airflow_dags"
    dags.mkdir()
    (dags / "MyAirflowFlow.py").write_text(HAND_WRITTEN)
    env = clean_env(tmp_path, {"METAFLOW_AIRFLOW_DAGS_FOLDER": str(dags)})
    proc = subprocess.run(
        [sys.executable, FLOW.name, "airflow", "create", "--offline"],
        cwd=first.flow_path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "was not generated by mfairflow" in proc.stderr, proc.stderr
    assert (dags / "MyAirflowFlow.py").read_text() == HAND_WRITTEN
