"""Real deploys against a real S3 server on loopback (moto_server): code package, tokens."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from conftest import BUCKET, ROOT, SECRET, compile_flow, s3_client

FLOW = ROOT / "examples" / "my_flow.py"


def deploy_env(endpoint: str, user: str, home: Path) -> dict:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "METAFLOW_S3_ENDPOINT_URL": endpoint,
        "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{BUCKET}/metaflow",
        "USER": user,
        "METAFLOW_USER": user,
        "METAFLOW_HOME": str(home),
    }


class Deployer:
    """Deploys the guide's flow from one folder as different users."""

    def __init__(self, tmp: Path, endpoint: str) -> None:
        self.tmp, self.endpoint = tmp, endpoint

    def create(self, user: str, *args: str, offline: bool = False):
        home = self.tmp / f"home-{user}"
        home.mkdir(exist_ok=True)
        return compile_flow(
            FLOW, self.tmp, *args, env=deploy_env(self.endpoint, user, home), offline=offline
        )


def constant(source: str, name: str) -> str:
    return re.search(rf'^{name} = "(.*)"$', source, re.M).group(1)


def test_first_deploy_uploads_the_code_package_and_records_the_token(tmp_path, s3_endpoint):
    result = Deployer(tmp_path, s3_endpoint).create("alice")
    assert result.proc.returncode == 0, result.proc.stderr
    assert "A new production token was generated" in result.proc.stdout + result.proc.stderr
    source = result.source
    token = constant(source, "PRODUCTION_TOKEN")
    assert token.startswith("myairflowflow-")
    url = constant(source, "CODE_PACKAGE_URL")
    assert url.startswith(f"s3://{BUCKET}/metaflow/MyAirflowFlow/data/")
    client = s3_client(s3_endpoint)
    key = url.split(f"s3://{BUCKET}/", 1)[1]
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    sha = hashlib.sha1(body).hexdigest()
    assert url.endswith(f"/{sha[:2]}/{sha}")
    assert f'"METAFLOW_CODE_SHA": "{sha}"' in source
    record = client.get_object(Bucket=BUCKET, Key="metaflow/mf.airflow/MyAirflowFlow")
    assert json.loads(record["Body"].read()) == {"production_token": token, "owner": "alice"}
    assert SECRET not in source
    assert f'"METAFLOW_S3_ENDPOINT_URL": "{s3_endpoint}"' in source


def test_redeploy_reuses_the_token_and_new_token_options_move_it(tmp_path, s3_endpoint):
    deployer = Deployer(tmp_path, s3_endpoint)
    first = constant(deployer.create("alice").source, "PRODUCTION_TOKEN")
    again = deployer.create("alice")
    assert again.proc.returncode == 0
    assert constant(again.source, "PRODUCTION_TOKEN") == first
    assert "new production token" not in again.proc.stdout + again.proc.stderr

    fresh = deployer.create("alice", "--generate-new-token")
    second = constant(fresh.source, "PRODUCTION_TOKEN")
    assert second != first and second.startswith("myairflowflow-")
    assert f"production:{second}" in fresh.proc.stdout + fresh.proc.stderr

    given = deployer.create("alice", "--new-token", "production:my-own-token")
    assert constant(given.source, "PRODUCTION_TOKEN") == "my-own-token"
    assert constant(deployer.create("alice").source, "PRODUCTION_TOKEN") == "my-own-token"


def test_another_user_needs_the_token_to_take_over(tmp_path, s3_endpoint):
    deployer = Deployer(tmp_path, s3_endpoint)
    alice = deployer.create("alice")
    token = constant(alice.source, "PRODUCTION_TOKEN")
    before = alice.dag_path.read_bytes()

    refused = deployer.create("bob")
    assert refused.proc.returncode == 2
    assert "deployed by the user 'alice'" in refused.proc.stderr
    assert "--authorize" in refused.proc.stderr
    assert "Traceback" not in refused.proc.stderr
    assert alice.dag_path.read_bytes() == before

    wrong = deployer.create("bob", "--authorize", "not-the-token")
    assert wrong.proc.returncode == 2

    allowed = deployer.create("bob", "--authorize", token)
    assert allowed.proc.returncode == 0, allowed.proc.stderr
    assert constant(allowed.source, "PRODUCTION_TOKEN") == token
    cached = deployer.create("bob")  # the authorized token is cached for bob
    assert cached.proc.returncode == 0, cached.proc.stderr


def test_offline_render_equals_the_online_deploy(tmp_path, s3_endpoint):
    deployer = Deployer(tmp_path, s3_endpoint)
    online = deployer.create("alice")
    assert online.proc.returncode == 0
    online_bytes = online.dag_path.read_bytes()
    offline = deployer.create("alice", offline=True)
    assert offline.proc.returncode == 0
    assert offline.dag_path.read_bytes() == online_bytes


def pod_defaults(source: str) -> str:
    return re.search(r"^POD_DEFAULTS = \{(.*?)^\}", source, re.M | re.S).group(1)


def test_kubernetes_connection_settings_reach_the_operator(compile_in):
    default = compile_in(FLOW)
    assert default.proc.returncode == 0, default.proc.stderr
    assert '"in_cluster": True' in pod_defaults(default.source)
    assert '"startup_timeout_seconds": 3600' in pod_defaults(default.source)

    configured = compile_in(
        FLOW,
        env={
            "METAFLOW_AIRFLOW_KUBERNETES_CONN_ID": "my_k8s",
            "METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_CONTEXT": "my-context",
            "METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_FILE": "/etc/kube/config",
            "METAFLOW_AIRFLOW_KUBERNETES_STARTUP_TIMEOUT_SECONDS": "600",
            "METAFLOW_KUBERNETES_SECRETS": "global-a,global-b",
            "METAFLOW_KUBERNETES_SERVICE_ACCOUNT": "metaflow-sa",
        },
    )
    assert configured.proc.returncode == 0, configured.proc.stderr
    defaults = pod_defaults(configured.source)
    assert '"in_cluster": False' in defaults
    assert '"kubernetes_conn_id": "my_k8s"' in defaults
    assert '"cluster_context": "my-context"' in defaults
    assert '"config_file": "/etc/kube/config"' in defaults
    assert '"startup_timeout_seconds": 600' in defaults
    # Stated once for every pod (tests/test_pod_specs.py checks the pods the operator builds).
    assert '"service_account_name": "metaflow-sa"' in defaults
    assert 'SECRETS = ["global-a", "global-b"]' in configured.source
    assert "service_account_name=" not in configured.source.split(") as dag:")[1]
    assert "secrets=" not in configured.source.split(") as dag:")[1]

    in_cluster = compile_in(FLOW, env={"METAFLOW_AIRFLOW_KUBERNETES_CONN_ID": "None"})
    assert '"in_cluster": True' in pod_defaults(in_cluster.source)
    assert "kubernetes_conn_id" not in in_cluster.source


def test_the_uploaded_package_is_reproducible_and_unpacks_as_metaflow_expects(
    tmp_path, s3_endpoint
):
    """Issue 13, item 3: the upload is the reproducible package, and a step can use it."""
    import subprocess
    import sys
    import tarfile
    from io import BytesIO

    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
    online = Deployer(tmp_path / "one", s3_endpoint).create("alice")
    assert online.proc.returncode == 0, online.proc.stderr
    url = constant(online.source, "CODE_PACKAGE_URL")
    body = (
        s3_client(s3_endpoint)
        .get_object(Bucket=BUCKET, Key=url.split(f"s3://{BUCKET}/", 1)[1])["Body"]
        .read()
    )
    # Another user, another copy, offline: the same address, computed without uploading.
    offline = Deployer(tmp_path / "two", s3_endpoint).create("bob", offline=True)
    assert offline.proc.returncode == 0, offline.proc.stderr
    assert constant(offline.source, "CODE_PACKAGE_URL") == url

    with tarfile.open(fileobj=BytesIO(body), mode="r:gz") as archive:
        names = archive.getnames()
        assert names == sorted(names) and "my_flow.py" in names
        info = json.loads(archive.extractfile(".mf_meta/INFO").read())
    assert "metaflow_version" in info and "ext_info" in info
    assert not {"username", "platform", "python_version", "commit_sha"} & set(info)
    assert "alice" not in json.dumps(info)

    # Unpack with Metaflow's own commands, as the pod's bootstrap does, and read INFO there.
    from metaflow.package import MetaflowPackage

    pkg_metadata = json.dumps({"version": 0, "archive_format": "tgz", "mfcontent_version": 1})
    work = tmp_path / "pod"
    work.mkdir()
    (work / "job.tar").write_bytes(body)
    for cmd in MetaflowPackage.get_extract_commands(pkg_metadata, "job.tar", "."):
        subprocess.run(cmd, shell=True, cwd=work, check=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update(MetaflowPackage.get_post_extract_env_vars(pkg_metadata, "."))
    code = (
        "import metaflow, os; from metaflow.meta_files import read_info_file; "
        "assert metaflow.__file__.startswith(os.getcwd()), metaflow.__file__; "
        "print(read_info_file()['script'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "my_flow.py"


def test_package_names_in_the_info_are_ones_uv_accepts(tmp_path, s3_endpoint):
    """Metaflow's uv bootstrap passes every extension package of the INFO file to `uv sync
    --no-install-package`; an editable install's `_pythonpath_0` made uv refuse the sync."""
    import subprocess
    import sys
    import tarfile
    from io import BytesIO
    from pathlib import Path

    (tmp_path / "one").mkdir()
    online = Deployer(tmp_path / "one", s3_endpoint).create("alice")
    assert online.proc.returncode == 0, online.proc.stderr
    url = constant(online.source, "CODE_PACKAGE_URL")
    key = url.split(f"s3://{BUCKET}/", 1)[1]
    body = s3_client(s3_endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=BytesIO(body), mode="r:gz") as archive:
        info = json.loads(archive.extractfile(".mf_meta/INFO").read())
    packages, per_point = info["ext_info"]
    assert "mfairflow" in packages, packages  # this checkout's extension, editable or not
    assert {entry[0] for entry in per_point["plugins"]} <= set(packages)

    # What the bootstrap runs, in a project without dependencies (uv locks it offline).
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
    )
    uv = str(Path(sys.executable).with_name("uv"))
    subprocess.run([uv, "lock", "--offline"], cwd=project, check=True, capture_output=True)
    skip = [word for name in ["metaflow", *packages] for word in ("--no-install-package", name)]
    sync = subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--offline", *skip],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert sync.returncode == 0, sync.stderr
