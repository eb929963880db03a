"""Azure Blob Storage and Google Cloud Storage deploys, against real emulators on loopback.

The same guarantees as the S3 deploys of test_deploy.py: the code package and the production
token record land in the datastore, a redeploy is byte-identical, --offline renders the same
file; every datastore, secrets and client-provider setting set at create time reaches every
pod; each misconfiguration is one clear error naming the setting, the DAG file untouched.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, compile_flow
from emulators import free_port, loopback_only_env

FLOW = ROOT / "examples" / "my_flow.py"
OLD_DAG = "# an older DAG file that a failed deploy must leave alone\n"


def constant(source: str, name: str) -> str:
    return re.search(rf'^{name} = "(.*)"$', source, re.M).group(1)


def create(tmp: Path, env: dict, user: str = "alice", offline: bool = False, flow: Path = FLOW):
    home = tmp / f"home-{user}"
    home.mkdir(exist_ok=True)
    env = {**env, "USER": user, "METAFLOW_USER": user, "METAFLOW_HOME": str(home)}
    return compile_flow(flow, tmp, env=env, offline=offline)


@pytest.mark.parametrize("cloud", ["azure", "gs"], indirect=True)
def test_deploy_uploads_the_package_and_token_and_redeploys_identically(tmp_path, cloud):
    first = create(tmp_path, cloud.env)
    assert first.proc.returncode == 0, first.proc.stderr
    assert "A new production token was generated" in first.proc.stdout + first.proc.stderr
    source = first.source
    token = constant(source, "PRODUCTION_TOKEN")
    assert token.startswith("myairflowflow-")
    url = constant(source, "CODE_PACKAGE_URL")
    assert url.startswith(f"{cloud.root}/MyAirflowFlow/data/")
    key = url.split(f"{cloud.bucket}/", 1)[1]
    body = cloud.read(key)
    assert body is not None, f"no code package at {url}"
    sha = hashlib.sha1(body).hexdigest()
    assert url.endswith(f"/{sha[:2]}/{sha}")
    assert f'"METAFLOW_CODE_SHA": "{sha}"' in source
    assert f'"METAFLOW_CODE_DS": "{cloud.kind}"' in source
    record = cloud.read("metaflow/mf.airflow/MyAirflowFlow")
    assert json.loads(record) == {"production_token": token, "owner": "alice"}
    for name, value in cloud.identity.items():  # the machine's identity never enters the DAG
        assert name not in source, name
        if len(value) > 8:
            assert value not in source, name

    again = create(tmp_path, cloud.env)
    assert again.proc.returncode == 0, again.proc.stderr
    assert "new production token" not in again.proc.stdout + again.proc.stderr
    assert again.dag_path.read_bytes() == first.dag_path.read_bytes()

    offline = create(tmp_path, cloud.env, offline=True)
    assert offline.proc.returncode == 0, offline.proc.stderr
    assert offline.dag_path.read_bytes() == first.dag_path.read_bytes()

    refused = create(tmp_path, cloud.env, user="bob")  # the token record is read back
    assert refused.proc.returncode == 2
    assert "deployed by the user 'alice'" in refused.proc.stderr


# Every setting of Metaflow's configuration in these families must reach every pod when it is
# set at create time; the list comes from Metaflow's own configuration, not from mfairflow.
FAMILIES = re.compile(
    r"METAFLOW_(DATASTORE_SYSROOT_|DATATOOLS_|CARD_\w*ROOT|S3_|AZURE_|GS_|GCP_|\w*SECRET|"
    r"\w*VAULT|\w*CLIENT_PROVIDER)\w*"
)
NOT_FOR_PODS = {
    # the machine's own folders
    "METAFLOW_DATASTORE_SYSROOT_LOCAL",
    "METAFLOW_DATASTORE_SYSROOT_SPIN",
    "METAFLOW_DATATOOLS_LOCALROOT",
    "METAFLOW_CARD_LOCALROOT",
    # may hold credentials (boto3 client arguments and session variables)
    "METAFLOW_DATATOOLS_CLIENT_PARAMS",
    "METAFLOW_DATATOOLS_SESSION_VARS",
    # Kubernetes objects of the pod, not its environment (test_pod_specs.py checks them)
    "METAFLOW_KUBERNETES_SECRETS",
    "METAFLOW_KUBERNETES_IMAGE_PULL_SECRETS",
    "METAFLOW_ARGO_WORKFLOWS_KUBERNETES_SECRETS",
}
KNOWN_VALUES = {
    "METAFLOW_DATASTORE_SYSROOT_AZURE": "my-container/metaflow",
    "METAFLOW_DATASTORE_SYSROOT_S3": "s3://my-bucket/metaflow",
    "METAFLOW_DATASTORE_SYSROOT_GS": "gs://my-bucket/metaflow",
    "METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT": "https://myaccount.blob.core.windows.net",
    "METAFLOW_AZURE_STORAGE_WORKLOAD_TYPE": "high_throughput",
    "METAFLOW_GS_STORAGE_WORKLOAD_TYPE": "high_throughput",
    "METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE": "gcp-secret-manager",
}


def settings_at_create_time() -> dict:
    """A non-default value for every pod setting of Metaflow's configuration."""
    import subprocess
    import sys

    code = (
        "import json\n"
        "from metaflow import metaflow_config\n"
        "from metaflow.metaflow_config_funcs import _all_configs\n"
        "print(json.dumps({k: v.value for k, v in _all_configs.items()}, default=str))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    defaults = json.loads(proc.stdout.strip().splitlines()[-1])
    values = {}
    for name, default in sorted(defaults.items()):
        if not FAMILIES.fullmatch(name) or name in NOT_FOR_PODS:
            continue
        if name.startswith("METAFLOW_ENABLED_"):  # plugin selection: the installed plugins
            continue
        if name in KNOWN_VALUES:
            values[name] = KNOWN_VALUES[name]
        elif isinstance(default, bool):
            values[name] = str(not default)
        elif isinstance(default, int):
            values[name] = str(default + 3)
        elif isinstance(default, dict):
            values[name] = json.dumps({"mfairflow_test": name})
        elif name.endswith("ROOT"):
            scheme = "gs://" if "GS" in name else "s3://" if "S3" in name else ""
            values[name] = f"{scheme}my-bucket/{name.lower()}"
        else:
            values[name] = f"mfairflow-test-{name[9:].lower().replace('_', '-')}"
    return values


@pytest.mark.parametrize("kind", ["gs"])
def test_every_datastore_secrets_and_client_provider_setting_reaches_every_pod(tmp_path, kind):
    from dag_inspect import load_dag, pod_manifest, write_kubeconfig

    settings = settings_at_create_time()
    for expected in (
        "METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE",
        "METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION",
        "METAFLOW_GCP_SECRET_MANAGER_PREFIX",
        "METAFLOW_AZURE_KEY_VAULT_PREFIX",
        "METAFLOW_DEFAULT_GCP_CLIENT_PROVIDER",
        "METAFLOW_DEFAULT_AZURE_CLIENT_PROVIDER",
        "METAFLOW_DEFAULT_AWS_CLIENT_PROVIDER",
        "METAFLOW_DATATOOLS_GSROOT",
        "METAFLOW_DATATOOLS_AZUREROOT",
        "METAFLOW_DATATOOLS_S3ROOT",
        "METAFLOW_S3_ENDPOINT_URL",
    ):
        assert expected in settings, expected
    env = {**settings, "METAFLOW_DEFAULT_DATASTORE": kind}
    result = create(tmp_path, env, offline=True, flow=ROOT / "tests" / "flows" / "foreach_flow.py")
    assert result.proc.returncode == 0, result.proc.stderr
    dag = load_dag(result.dag_path)
    kubeconfig = write_kubeconfig(tmp_path)
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    pods = 0
    for task in dag.tasks:
        if hasattr(task, "partial_kwargs"):
            task = KubernetesPodOperator(
                task_id=task.task_id, **task.partial_kwargs, arguments=["--split-index", "0"]
            )
        if not isinstance(task, KubernetesPodOperator):
            continue
        (container,) = [
            c for c in pod_manifest(task, kubeconfig)["spec"]["containers"] if c["name"] == "base"
        ]
        pod_env = {item["name"]: item.get("value") for item in container.get("env", [])}
        missing = {k: v for k, v in settings.items() if pod_env.get(k) != v}
        assert not missing, f"{task.task_id}: {sorted(missing)}"
        pods += 1
    assert pods >= 4


# Clear errors: exit 2, error and hint naming the setting, no traceback, DAG file untouched.


def expect_error(tmp: Path, env: dict, *fragments: str, offline: bool = False, args=()):
    out = tmp / "dags"
    out.mkdir(parents=True, exist_ok=True)
    dag = out / "my_flow_dag.py"
    dag.write_text(OLD_DAG)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    result = compile_flow(
        FLOW, tmp, *args, env={**env, "METAFLOW_HOME": str(home)}, offline=offline
    )
    stderr = result.proc.stderr
    assert result.proc.returncode == 2, stderr
    assert "Traceback" not in stderr, stderr
    assert "error: " in stderr and "hint: " in stderr, stderr
    for fragment in fragments:
        assert fragment in stderr, stderr
    assert dag.read_text() == OLD_DAG
    return stderr


def test_azure_sysroot_with_the_url_scheme_says_what_to_write(tmp_path, azurite):
    env = {**azurite.env, "METAFLOW_DATASTORE_SYSROOT_AZURE": "azure://mfairflow-deploy/metaflow"}
    for offline in (True, False):
        expect_error(
            tmp_path,
            env,
            "METAFLOW_DATASTORE_SYSROOT_AZURE='azure://mfairflow-deploy/metaflow' has a URL scheme",
            "write METAFLOW_DATASTORE_SYSROOT_AZURE=mfairflow-deploy/metaflow",
            offline=offline,
        )


def test_offline_azure_without_the_blob_endpoint_is_an_error(tmp_path):
    env = {
        "METAFLOW_DEFAULT_DATASTORE": "azure",
        "METAFLOW_DATASTORE_SYSROOT_AZURE": "my-container/metaflow",
    }
    expect_error(
        tmp_path,
        env,
        "METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT is not set",
        "https://<account>.blob.core.windows.net",
        offline=True,
    )


def test_gs_root_without_a_bucket_is_an_error(tmp_path):
    env = {"METAFLOW_DEFAULT_DATASTORE": "gs", "METAFLOW_DATASTORE_SYSROOT_GS": "my-bucket/mf"}
    expect_error(tmp_path, env, "does not name a bucket", "gs://my-bucket/metaflow", offline=True)


def test_missing_container_or_bucket_is_an_error(tmp_path, azurite, fake_gcs):
    expect_error(
        tmp_path / "azure",
        {**azurite.env, "METAFLOW_DATASTORE_SYSROOT_AZURE": "no-such-container/metaflow"},
        "the container 'no-such-container' of METAFLOW_DATASTORE_SYSROOT_AZURE",
        "create the container",
    )
    expect_error(
        tmp_path / "gs",
        {**fake_gcs.env, "METAFLOW_DATASTORE_SYSROOT_GS": "gs://no-such-bucket/metaflow"},
        "the bucket 'no-such-bucket' of METAFLOW_DATASTORE_SYSROOT_GS",
        "create the bucket",
    )


def test_unreachable_endpoint_is_an_error(tmp_path, azurite, fake_gcs):
    dead = f"127.0.0.1:{free_port()}"
    expect_error(
        tmp_path / "azure",
        {**azurite.env, "METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT": f"https://{dead}/acct"},
        "(METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT) cannot be reached",
    )
    expect_error(
        tmp_path / "gs",
        {**fake_gcs.env, "STORAGE_EMULATOR_HOST": f"http://{dead}"},
        "(STORAGE_EMULATOR_HOST) cannot be reached",
    )


def test_missing_credentials_are_an_error(tmp_path, azurite, fake_gcs):
    azure_env = {
        **azurite.settings,
        "REQUESTS_CA_BUNDLE": azurite.identity["REQUESTS_CA_BUNDLE"],
        **loopback_only_env(),
    }
    expect_error(tmp_path / "azure", azure_env, "found no credentials", "az login")
    gs_env = {
        **fake_gcs.settings,
        "STORAGE_EMULATOR_HOST": fake_gcs.identity["STORAGE_EMULATOR_HOST"],
        **loopback_only_env(),
        "HOME": str(tmp_path),  # no gcloud application-default credentials
    }
    expect_error(tmp_path / "gs", gs_env, "found no credentials", "GOOGLE_APPLICATION_CREDENTIALS")


def test_no_cloud_datastore_says_what_to_set(tmp_path):
    stderr = expect_error(
        tmp_path,
        {"METAFLOW_DEFAULT_DATASTORE": "local"},
        "datastore 'local' is not supported for an Airflow deploy",
        "METAFLOW_DEFAULT_DATASTORE",
        "METAFLOW_DATASTORE_SYSROOT_S3",
        "--datastore=",
        "--target local needs no cloud datastore",
    )
    assert "@kubernetes decorator requires" not in stderr


def test_help_works_without_a_datastore(tmp_path):
    # The guide's flow has @kubernetes, whose Metaflow check ran before any command.
    flow_dir = tmp_path / "flow"
    flow_dir.mkdir()
    (flow_dir / "my_flow.py").write_text(FLOW.read_text())
    import subprocess
    import sys

    from conftest import clean_env

    env = clean_env(tmp_path)
    del env["METAFLOW_DEFAULT_DATASTORE"], env["METAFLOW_DATASTORE_SYSROOT_S3"]
    proc = subprocess.run(
        [sys.executable, "my_flow.py", "airflow", "create", "--help"],
        cwd=flow_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--offline" in proc.stdout and "--target" in proc.stdout
    assert "requires --datastore" not in proc.stdout + proc.stderr


def test_local_target_rejects_kubernetes_steps_without_a_cloud_datastore(tmp_path):
    expect_error(
        tmp_path,
        {"METAFLOW_DEFAULT_DATASTORE": "local"},
        "step 'process' has @kubernetes, which Metaflow runs only with a cloud datastore",
        "@resources",
        args=("--target", "local"),
    )


SECRETS_FLOW = ROOT / "tests" / "datastore_flows" / "secrets_flow.py"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({}, "names no secrets backend, and METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE is not set"),
        (
            {"METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE": "vault-of-mine"},
            "uses the secrets backend 'vault-of-mine', which Metaflow does not know",
        ),
    ],
    ids=["no-backend", "unknown-backend"],
)
def test_secrets_a_pod_cannot_fetch_are_rejected(tmp_path, env, fragment):
    result = create(tmp_path, env, offline=True, flow=SECRETS_FLOW)
    assert result.proc.returncode == 2, result.proc.stderr
    assert fragment in result.proc.stderr
    assert "Traceback" not in result.proc.stderr
    assert not result.dag_path.exists()
