"""Shared fixtures: compile a flow the way a user does, in a clean, deterministic environment."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "tests" / "flows"
SNAPSHOTS = ROOT / "snapshots"
TEST_S3_ROOT = "s3://mfairflow-test/metaflow"


def clean_env(tmp: Path, extra: Optional[dict] = None) -> dict:
    """Process environment without the caller's Metaflow/Airflow settings, fixed user."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("METAFLOW_", "AIRFLOW", "MFAIRFLOW_")) and k != "APP"
    }
    mfhome = tmp / "mfhome"
    mfhome.mkdir(exist_ok=True)
    env.update(
        {
            "USER": "tester",
            "LOGNAME": "tester",
            "METAFLOW_USER": "tester",
            "METAFLOW_HOME": str(mfhome),
            "METAFLOW_DEFAULT_DATASTORE": "s3",
            "METAFLOW_DATASTORE_SYSROOT_S3": TEST_S3_ROOT,
            "METAFLOW_DEFAULT_METADATA": "local",
            "PYTHONHASHSEED": "0",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class Compiled:
    """The result of one `python flow.py airflow create` run."""

    proc: subprocess.CompletedProcess
    dag_path: Path
    flow_path: Path

    @property
    def source(self) -> str:
        return self.dag_path.read_text()


def compile_flow(
    flow: Path | str,
    tmp: Path,
    *args: str,
    env: Optional[dict] = None,
    dag_name: Optional[str] = None,
    top_level: tuple[str, ...] = (),
    offline: bool = True,
    flow_text: Optional[str] = None,
) -> Compiled:
    """Copy a flow into its own folder and compile it; returns the process and paths.

    The flow's folder holds only the flow file, so that the code package (and its content
    address in the DAG) depends on the flow alone.
    """
    flow = Path(flow)
    flow_dir = tmp / f"flow_{flow.stem}"
    flow_dir.mkdir(parents=True, exist_ok=True)
    flow_path = flow_dir / flow.name
    if flow_text is not None:
        flow_path.write_text(flow_text)
    else:
        shutil.copy(flow, flow_path)
    out_dir = tmp / "dags"
    out_dir.mkdir(exist_ok=True)
    dag_path = out_dir / (dag_name or f"{flow.stem}_dag.py")
    cmd = [sys.executable, flow_path.name, *top_level, "airflow", "create", str(dag_path)]
    if offline:
        cmd.append("--offline")
    cmd.extend(args)
    proc = subprocess.run(
        cmd, cwd=flow_dir, env=clean_env(tmp, env), capture_output=True, text=True, timeout=300
    )
    return Compiled(proc=proc, dag_path=dag_path, flow_path=flow_path)


@pytest.fixture
def compile_in(tmp_path):
    """compile_in(flow, *args, **kw) → Compiled, using a fresh temporary folder."""

    def run(flow, *args, **kwargs):
        return compile_flow(flow, tmp_path, *args, **kwargs)

    return run


BUCKET = "mfairflow-deploy"
SECRET = "not-a-real-secret-key-9f8e7d"


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server on 127.0.0.1, with one bucket."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = s3_client(endpoint)
        for _ in range(100):
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:  # not listening yet
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not start")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def s3_client(endpoint: str):
    """A boto3 S3 client for the loopback server."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )


# Azure Blob Storage and Google Cloud Storage: real emulators on 127.0.0.1 (tests/emulators.py),
# started once per test session and stopped by pid at its end.
AZURE_CONTAINER = "mfairflow-deploy"
GCS_BUCKET = "mfairflow-deploy"


@pytest.fixture(scope="session")
def cloud_tokens():
    """The local token endpoint of both clouds (Azure managed identity, Google OAuth)."""
    from emulators import TokenEndpoint

    tokens = TokenEndpoint()
    try:
        yield tokens
    finally:
        tokens.close()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory, cloud_tokens):
    """Azurite over HTTPS with OAuth, one container; a CloudEmulator."""
    from emulators import start_azurite, stop

    emulator = start_azurite(tmp_path_factory.mktemp("azurite"), cloud_tokens, AZURE_CONTAINER)
    try:
        yield emulator
    finally:
        stop(emulator.proc)


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory, cloud_tokens):
    """fake-gcs-server with one bucket and a local service account; a CloudEmulator."""
    from emulators import start_fake_gcs, stop

    emulator = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs"), cloud_tokens, GCS_BUCKET)
    try:
        yield emulator
    finally:
        stop(emulator.proc)


def s3_emulator(endpoint: str) -> CloudEmulator:  # noqa: F821 (emulators is imported lazily)
    """The moto S3 server as a CloudEmulator: the same shape as Azurite and fake-gcs-server."""
    from emulators import CloudEmulator

    client = s3_client(endpoint)

    def read(key: str):
        try:
            return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None

    return CloudEmulator(
        kind="s3",
        bucket=BUCKET,
        root=f"s3://{BUCKET}/metaflow",
        settings={
            "METAFLOW_DEFAULT_DATASTORE": "s3",
            "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{BUCKET}/metaflow",
            "METAFLOW_S3_ENDPOINT_URL": endpoint,
        },
        identity={
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
        read=read,
    )


@pytest.fixture(params=["s3", "azure", "gs"])
def cloud(request):
    """Each of the guide's three datastores in turn, as a CloudEmulator on 127.0.0.1."""
    if request.param == "s3":
        return s3_emulator(request.getfixturevalue("s3_endpoint"))
    return request.getfixturevalue({"azure": "azurite", "gs": "fake_gcs"}[request.param])


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveAirflow:
    """A live Airflow started by `mfairflow airflow up`'s code, and the environment to use it."""

    instance: object  # mfairflow.live.local_airflow.LocalAirflow
    env: dict  # for subprocesses: clean Metaflow settings, local datastore, the exports
    base: Path  # flows live in base/<name>/; base/.metaflow is the shared local datastore


def start_live_airflow(
    base: Path, airflow: Optional[str] = None, database: str = "postgres"
) -> LiveAirflow:
    """Start Airflow under base/airflow (tests: 127.0.0.1, a free port, PostgreSQL)."""
    from mfairflow.live import local_airflow

    (base / ".metaflow").mkdir(parents=True, exist_ok=True)
    instance = local_airflow.up(
        str(base / "airflow"),
        free_port(),
        airflow=airflow,
        log=lambda _msg: None,
        database=database,
    )
    env = clean_env(base, {"METAFLOW_DEFAULT_DATASTORE": "local", **instance.exports()})
    env.pop("METAFLOW_DATASTORE_SYSROOT_S3", None)
    return LiveAirflow(instance, env, base)


@pytest.fixture(scope="session")
def live_airflow(tmp_path_factory):
    """ONE live Airflow 3 on PostgreSQL for every live test; stopped (by its pids) at the end."""
    from mfairflow.live import local_airflow

    base = tmp_path_factory.mktemp("live")
    live = start_live_airflow(base)
    try:
        yield live
    finally:
        local_airflow.down(str(base / "airflow"), log=lambda _msg: None)


# pytest-xdist (`make test` runs two workers). Each worker is a session of its own, so the tests
# that use a server started once per session must all run on one worker: whole test modules are
# handed out, and the modules that use one server's fixtures (found in their source: a function
# taking that fixture) count as one unit. (xdist's own `--dist loadgroup` cannot be used: with
# pytest 9 the group suffix it adds to node ids has no effect.)
XDIST_GROUPS = {
    "live_airflow": "live-airflow3",
    "cloud_tokens": "emulators",
    "azurite": "emulators",
    "fake_gcs": "emulators",
    "s3_endpoint": "emulators",
    "cloud": "emulators",  # asks for the three above by name
}


def server_groups() -> dict[str, str]:
    """Test module (node id prefix) → the group of the session servers its functions take."""
    import ast

    groups = {}
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        names = {
            arg.arg
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            for arg in node.args.args
        }
        found = {XDIST_GROUPS[name] for name in names if name in XDIST_GROUPS}
        if len(found) > 1:
            raise pytest.UsageError(f"{path.name} uses the servers of {sorted(found)}")
        if found:
            groups[f"tests/{path.name}"] = found.pop()
    return groups


def pytest_xdist_make_scheduler(config, log):
    """Whole modules to each worker; the modules of one session server's group together."""
    from xdist.scheduler import LoadScopeScheduling

    groups = server_groups()

    class ServerGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return groups.get(module, module)

    return ServerGroupScheduling(config, log)
