"""Golden DAG files: every flow of tests/flows compiles to exactly the reviewed file in snapshots/.

Regenerate on purpose with `make snapshots` (pytest --snapshot-update) and review the diff.

Two inputs of a DAG file depend on the machine rather than on the flow, so the golden files hold
them fixed to stay valid on every machine and Python:
  * the code package's content address (sha1): the package carries Metaflow's INFO file, with
    the full `sys.version`, the platform and the Metaflow version, and mfairflow's own extension
    code; the snapshot shows a placeholder address instead (the determinism test below compares
    the real bytes, address included);
  * the default image, `python:<major>.<minor>` of the compiling interpreter: the compile
    configures METAFLOW_KUBERNETES_CONTAINER_IMAGE instead.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import FLOWS, ROOT, compile_flow

FLOW_FILES = sorted(FLOWS.glob("*.py"))
GUIDE_FLOWS = {
    "my_flow": "MyAirflowFlow",
    "scheduled_flow": "ScheduledFlow",
    "s3_sensor_flow": "S3SensorFlow",
    "external_task_flow": "ExternalTaskFlow",
    "parameterized_flow": "ParameterizedFlow",
    "foreach_flow": "ForeachFlow",
    "production_ml_flow": "ProductionMLFlow",
}
WORKERS = max(2, min(4, os.cpu_count() or 2))
SNAPSHOT_ENV = {"METAFLOW_KUBERNETES_CONTAINER_IMAGE": "python:3.11"}
CODE_SHA = re.compile(r'"METAFLOW_CODE_SHA": "([0-9a-f]{40})"')
PLACEHOLDER_SHA = "c0de" * 10


def portable(source: str) -> str:
    """The DAG source with the code package's content address replaced by a placeholder."""
    match = CODE_SHA.search(source)
    assert match, "the DAG names no code package (METAFLOW_CODE_SHA)"
    sha = match.group(1)
    return source.replace(f"{sha[:2]}/{sha}", f"{PLACEHOLDER_SHA[:2]}/{PLACEHOLDER_SHA}").replace(
        sha, PLACEHOLDER_SHA
    )


def compile_all(flows, tmp, **kwargs):
    """Compile several flows concurrently (each in its own folder); results in input order."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(lambda flow: compile_flow(flow, tmp, **kwargs), flows))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every corpus flow compiled once, offline, with the default (first) production token."""
    tmp = tmp_path_factory.mktemp("snapshots")
    results = compile_all(FLOW_FILES, tmp, env=SNAPSHOT_ENV)
    return dict(zip([flow.stem for flow in FLOW_FILES], results))


def test_corpus_holds_every_guide_example_and_one_flow_per_file():
    assert len(FLOW_FILES) >= 14
    stems = {flow.stem for flow in FLOW_FILES}
    assert set(GUIDE_FLOWS) <= stems
    for flow in FLOW_FILES:
        tree = ast.parse(flow.read_text(), str(flow))
        classes = [
            node.name
            for node in tree.body
            if isinstance(node, ast.ClassDef)
            and any(getattr(base, "id", None) == "FlowSpec" for base in node.bases)
        ]
        assert len(classes) == 1, f"{flow.name}: one FlowSpec per file, found {classes}"
        assert f"{classes[0]}()" in flow.read_text().split('if __name__ == "__main__":')[-1]
        if flow.stem in GUIDE_FLOWS:
            assert classes == [GUIDE_FLOWS[flow.stem]]


@pytest.mark.parametrize("flow", FLOW_FILES, ids=lambda flow: flow.stem)
def test_dag_matches_snapshot(flow, compiled, snapshot):
    result = compiled[flow.stem]
    assert result.proc.returncode == 0, result.proc.stderr
    snapshot.snapshot_dir = ROOT / "snapshots"
    snapshot.assert_match(portable(result.source), f"{flow.stem}_dag.py")


def test_snapshots_are_clean_under_airflows_own_migration_rules():
    """`ruff --select AIR` knows what Airflow 3 removed or moved: the golden DAGs use none of it."""
    snapshots = sorted((ROOT / "snapshots").glob("*_dag.py"))
    assert len(snapshots) == len(FLOW_FILES)
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--preview"]
        + ["--select", "AIR"]
        + [str(path) for path in snapshots],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("stem", ["production_ml_flow", "all_params_flow", "multi_sensor_flow"])
def test_output_is_byte_identical_across_folders_and_hash_seeds(stem, tmp_path):
    flow = FLOWS / f"{stem}.py"
    runs = [(tmp_path / "one", "1"), (tmp_path / "two" / "deeper", "2")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(
            lambda run: compile_flow(flow, run[0], env={"PYTHONHASHSEED": run[1]}), runs
        )
    for result in (first, second):
        assert result.proc.returncode == 0, result.proc.stderr
    assert first.flow_path.parent != second.flow_path.parent  # two working directories
    assert first.dag_path.read_bytes() == second.dag_path.read_bytes()


def test_every_dag_is_black_formatted_with_its_real_code_address(compiled):
    """The file is rendered and formatted while the code package is still being built, with a
    provisional address of the same length that the real one then replaces (cli.py): the file on
    disk, real address included, must be exactly what black makes of it."""
    import black

    from mfairflow.deploy import PROVISIONAL_SHA

    for stem, result in compiled.items():
        assert result.proc.returncode == 0, result.proc.stderr
        source = result.source
        assert PROVISIONAL_SHA not in source, stem
        assert CODE_SHA.search(source), stem
        assert black.format_str(source, mode=black.Mode(line_length=88)) == source, stem


def test_code_address_replacement_needs_an_address_of_the_same_shape():
    from mfairflow.render import with_code_address

    old, new = "ab" * 20, "cd" * 20
    provisional = (f"s3://bucket/root/Flow/data/ab/{old}", old)
    real = (f"s3://bucket/root/Flow/data/cd/{new}", new)
    source = f'URL = "{provisional[0]}"\nSHA = "{old}"\nKEY = "root/Flow/data/ab/{old}"\n'
    assert with_code_address(source, provisional, real) == (
        f'URL = "{real[0]}"\nSHA = "{new}"\nKEY = "root/Flow/data/cd/{new}"\n'
    )
    # Another root or a longer address could change black's layout: render again instead.
    assert with_code_address(source, provisional, (f"s3://other/cd/{new}", new)) is None
    assert with_code_address(source, provisional, (real[0] + "0", new + "0")) is None


def test_a_flow_holding_the_provisional_address_keeps_its_own_value(tmp_path):
    """A value equal to the provisional address is the flow's, not a code package address:
    such a flow is rendered after the package is built, and the value stays as written."""
    from mfairflow.deploy import PROVISIONAL_SHA

    flow_text = (
        "from metaflow import FlowSpec, environment, step\n\n\n"
        "class OddFlow(FlowSpec):\n"
        f"    @environment(vars={{'ODD': {PROVISIONAL_SHA!r}}})\n"
        "    @step\n"
        "    def start(self):\n"
        "        self.next(self.end)\n\n"
        "    @step\n"
        "    def end(self):\n"
        "        pass\n\n\n"
        'if __name__ == "__main__":\n'
        "    OddFlow()\n"
    )
    result = compile_flow("odd_flow.py", tmp_path, flow_text=flow_text)
    assert result.proc.returncode == 0, result.proc.stderr
    assert f'"ODD": "{PROVISIONAL_SHA}"' in result.source
    sha = CODE_SHA.search(result.source).group(1)
    assert sha != PROVISIONAL_SHA and result.source.count(PROVISIONAL_SHA) == 1


# One golden DAG per cloud datastore beside S3: an offline deploy of the guide's foreach flow.
CLOUD_SNAPSHOT_ENV = {
    "azure": {
        "METAFLOW_DEFAULT_DATASTORE": "azure",
        "METAFLOW_DATASTORE_SYSROOT_AZURE": "my-container/metaflow",
        "METAFLOW_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT": "https://myaccount.blob.core.windows.net",
    },
    "gs": {
        "METAFLOW_DEFAULT_DATASTORE": "gs",
        "METAFLOW_DATASTORE_SYSROOT_GS": "gs://my-bucket/metaflow",
        "METAFLOW_DEFAULT_GCP_CLIENT_PROVIDER": "gcp-default",
        "METAFLOW_GCP_SECRET_MANAGER_PREFIX": "projects/my-project/secrets/",
    },
}


@pytest.mark.parametrize("kind", sorted(CLOUD_SNAPSHOT_ENV))
def test_cloud_datastore_dag_matches_snapshot(kind, tmp_path, snapshot):
    env = {**SNAPSHOT_ENV, **CLOUD_SNAPSHOT_ENV[kind], "METAFLOW_DATASTORE_SYSROOT_S3": ""}
    result = compile_flow(FLOWS / "foreach_flow.py", tmp_path, env=env)
    assert result.proc.returncode == 0, result.proc.stderr
    snapshot.snapshot_dir = ROOT / "snapshots" / "datastores"
    snapshot.assert_match(portable(result.source), f"{kind}_foreach_flow_dag.py")


def test_every_name_a_dag_file_defines_is_one_a_task_variable_avoids():
    """A step's variable in the DAG file must not shadow the file's own names: every name the
    snapshots define at the top level (imports, constants, helpers) is in TEMPLATE_NAMES."""
    from mfairflow.analyzer.names import TEMPLATE_NAMES

    def defined(statements) -> set:
        names = set()
        for node in statements:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.Try):
                names |= defined(node.body) | defined(node.orelse)
                for handler in node.handlers:
                    names |= defined(handler.body)
            elif isinstance(node, ast.With):
                names |= {i.optional_vars.id for i in node.items if i.optional_vars}
        return names

    files = sorted(ROOT.joinpath("snapshots").rglob("*_dag.py"))
    assert len(files) > 60
    for path in files:
        missing = defined(ast.parse(path.read_text()).body) - TEMPLATE_NAMES
        assert not missing, f"{path.name}: {sorted(missing)}"
