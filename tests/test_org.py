"""Organization templates and config, and the pull-request workflow.

* A second golden record: every snapshot flow compiled through the example organization
  (examples/org: its mfairflow.yaml and its dag.py.jinja override), compared with
  snapshots/org/ and loaded by Airflow's DagBag.
* Precedence: command-line option > decorator on the step > organization config > built-in.
* Config errors name the key and the file:line, exit 2, leave the DAG file alone.
* `--check` (fresh, stale, missing), `--emit-model`, `mfairflow templates export`, block
  overrides through --template-dir, and docs/templates.md kept in step with the model.
"""

from __future__ import annotations

import ast
import dataclasses
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import pytest
import yaml
from conftest import FLOWS, ROOT, clean_env, compile_flow

ORG = ROOT / "examples" / "org"
ORG_CONFIG = ORG / "mfairflow.yaml"
ORG_SNAPSHOTS = ROOT / "snapshots" / "org"
TEMPLATES = ROOT / "templates"
AF2_PYTHON = Path(os.environ.get("MFAIRFLOW_AF2_PYTHON") or ROOT / ".venv-af2" / "bin" / "python")

# What examples/org/mfairflow.yaml sets (read from the file, so the example can evolve).
ORG_VALUES = yaml.safe_load(ORG_CONFIG.read_text())
ORG_HEADER = "# Acme ML platform: generated DAG for "
ORG_OWNER_LINKS = {"ml-platform": "https://wiki.acme.example/ml-platform"}
FALLBACK_RETRIES = 1  # Metaflow's NUM_FALLBACK_RETRIES: the extra attempt @catch adds


CORPUS = sorted(FLOWS.glob("*.py"))  # the snapshot corpus of tests/test_snapshots.py


CODE_SHA = re.compile(r'"METAFLOW_CODE_SHA": "([0-9a-f]{40})"')
PLACEHOLDER_SHA = "c0de" * 10


def portable(source: str) -> str:
    """The DAG source with the code package's content address replaced by a placeholder.

    As in tests/test_snapshots.py: the address depends on the machine (the package holds
    Metaflow's INFO file with `sys.version` and the platform) and on mfairflow's own code.
    """
    match = CODE_SHA.search(source)
    assert match, "the DAG names no code package (METAFLOW_CODE_SHA)"
    sha = match.group(1)
    return source.replace(f"{sha[:2]}/{sha}", f"{PLACEHOLDER_SHA[:2]}/{PLACEHOLDER_SHA}").replace(
        sha, PLACEHOLDER_SHA
    )


def prepare_flow_dir(flow: Path, tmp: Path) -> None:
    """Put a flow's data files (e.g. config_flow.json for config_flow.py) beside its copy."""
    flow_dir = tmp / f"flow_{flow.stem}"
    flow_dir.mkdir(parents=True, exist_ok=True)
    for extra in flow.parent.glob(flow.stem + ".*"):
        if extra.suffix != ".py":
            shutil.copy(extra, flow_dir / extra.name)


def dynamic_decorators(flow: Path) -> bool:
    """True if decorators may be added at run time (mutators, custom step decorators)."""
    return bool(re.search(r"Mutator|user_step_decorator|add_decorator", flow.read_text()))


def step_decorators(flow: Path) -> dict[str, dict[str, set[str]]]:
    """step name → {decorator name → keyword arguments given}, read from the flow's source."""
    steps: dict[str, dict[str, set[str]]] = {}
    for node in ast.walk(ast.parse(flow.read_text())):
        if not isinstance(node, ast.FunctionDef):
            continue
        decos: dict[str, set[str]] = {}
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call else deco
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            decos[name] = {kw.arg for kw in call.keywords if kw.arg} if call else set()
        if "step" in decos:
            steps[node.name] = decos
    return steps


# --------------------------------------------------------------------------------------------
# Loading DAG files with Airflow's DagBag (in a subprocess with its own AIRFLOW_HOME).
# --------------------------------------------------------------------------------------------

PROBE = r"""
import json
import os
import sys

try:  # Airflow 3
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)


def callbacks(value):
    value = value or []
    value = value if isinstance(value, (list, tuple)) else [value]
    return [f"{c.__module__}.{c.__name__}" for c in value]


def plain(value):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def env_of(value):
    if isinstance(value, dict):
        return value
    return {e.name: e.value for e in value or []}


KUBE = ("image", "namespace", "service_account_name", "labels", "annotations", "node_selector")
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in sorted(bag.dags.items()):
    tasks = {}
    for t in dag.tasks:
        mapped = hasattr(t, "partial_kwargs")
        kw = t.partial_kwargs if mapped else {}
        get = (lambda name: kw.get(name)) if mapped else (lambda name: getattr(t, name, None))
        info = {
            "type": getattr(t, "task_type", type(t).__name__),
            "mapped": mapped,
            "pool": t.pool,
            "retries": t.retries,
            "email": get("email"),
            "callbacks": callbacks(get("on_failure_callback")),
            "upstream": sorted(t.upstream_task_ids),
        }
        if info["type"] == "KubernetesPodOperator":
            info.update({name: get(name) for name in KUBE})
            info["tolerations"] = [plain(x) for x in get("tolerations") or []]
            info["env"] = env_of(get("env_vars"))
            info["cmds"] = list(get("cmds") or [])
        tasks[t.task_id] = info
    out["dags"][dag_id] = {
        "file": os.path.basename(dag.fileloc),
        "tags": sorted(dag.tags),
        "owner_links": dict(getattr(dag, "owner_links", None) or {}),
        "tasks": tasks,
    }
print("MFAIRFLOW_PROBE " + json.dumps(out, default=str))
"""


def load_dagbag(folder: Path, tmp: Path, python: str = sys.executable) -> dict:
    """DagBag of a folder of DAG files: import errors and what Airflow sees of each task.

    examples/org is on PYTHONPATH so that `from acme_alerts import notify_failure` resolves,
    as it would on an Airflow worker with the organization's package installed.
    """
    home = tmp / f"airflow-home-{Path(python).parent.parent.name}"
    home.mkdir(exist_ok=True)
    probe = tmp / "dagbag_probe.py"
    probe.write_text(PROBE)
    env = clean_env(
        tmp,
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
            "PYTHONPATH": str(ORG),
        },
    )
    proc = subprocess.run(
        [python, str(probe), str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next((x for x in proc.stdout.splitlines() if x.startswith("MFAIRFLOW_PROBE ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(line[len("MFAIRFLOW_PROBE ") :])


WORKERS = max(2, os.cpu_count() or 2)


def in_parallel(jobs: dict) -> dict:
    """Run callables side by side (each compile is a process): name → result."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def error_text(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------
# (a) The organization golden record.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def org_golden(tmp_path_factory):
    """Every corpus flow compiled with --config examples/org/mfairflow.yaml into one folder."""
    tmp = tmp_path_factory.mktemp("org-golden")
    for flow in CORPUS:
        prepare_flow_dir(flow, tmp)

    def run(flow: Path):
        return flow, compile_flow(flow, tmp, "--config", str(ORG_CONFIG))

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = dict(pool.map(run, CORPUS))
    return tmp, results


@pytest.mark.parametrize("flow", CORPUS, ids=[f.stem for f in CORPUS])
def test_org_golden_record(org_golden, flow, snapshot):
    _, results = org_golden
    compiled = results[flow]
    assert compiled.proc.returncode == 0, error_text(compiled.proc)
    snapshot.snapshot_dir = ORG_SNAPSHOTS
    snapshot.assert_match(portable(compiled.source), f"{flow.stem}_dag.py")


def test_org_golden_dags_load_in_dagbag_with_the_org_settings(org_golden):
    tmp, results = org_golden
    failed = {f.stem: error_text(c.proc)[-1500:] for f, c in results.items() if c.proc.returncode}
    assert not failed, failed
    bag = load_dagbag(tmp / "dags", tmp)
    assert bag["errors"] == {}
    by_file = {dag["file"]: dag for dag in bag["dags"].values()}
    assert sorted(by_file) == sorted(c.dag_path.name for c in results.values())

    org = ORG_VALUES
    expected_tolerations = [{"toleration_seconds": None, **t} for t in org["tolerations"]]
    for flow, compiled in results.items():
        source = compiled.source
        # The organization's header block comes first, then the packaged header (super()).
        assert source.startswith("# =====")
        assert ORG_HEADER in source.split("\n", 3)[1]
        assert "# Airflow DAG for the Metaflow flow" in source
        dag = by_file[compiled.dag_path.name]
        assert dag["owner_links"] == ORG_OWNER_LINKS, flow.stem
        assert set(org["tags"]) <= set(dag["tags"]), flow.stem

        decorators = step_decorators(flow)
        dynamic = dynamic_decorators(flow)
        steps = 0
        for task_id, task in dag["tasks"].items():
            assert task["pool"] == org["pool"], (flow.stem, task_id)
            assert task["callbacks"] == ["acme_alerts.notify_failure"], (flow.stem, task_id)
            if task["type"] != "KubernetesPodOperator":
                continue  # a sensor
            if task_id not in decorators:  # an exit hook: the DAG's default pod, no retries
                assert task["retries"] == 0, (flow.stem, task_id)
                assert task["namespace"] == org["namespace"], (flow.stem, task_id)
                # ... placed where the organization places every pod.
                assert task["node_selector"] == org["node_selector"], (flow.stem, task_id)
                assert task["tolerations"] == expected_tolerations, (flow.stem, task_id)
                continue
            steps += 1
            own = decorators.get(task_id, {})
            kube = own.get("kubernetes", set())
            if not dynamic and "retry" not in own:
                expected = org["retries"] + (FALLBACK_RETRIES if "catch" in own else 0)
                assert task["retries"] == expected, (flow.stem, task_id)
            if dynamic:
                continue
            for key, attr in (
                ("image", "image"),
                ("namespace", "namespace"),
                ("service_account", "service_account_name"),
            ):
                if key not in kube:
                    assert task[attr] == org[key], (flow.stem, task_id, key)
            if "labels" not in kube:
                for key, value in org["labels"].items():
                    assert task["labels"][key] == value, (flow.stem, task_id)
            if "annotations" not in kube:
                for key, value in org["annotations"].items():
                    assert task["annotations"][key] == value, (flow.stem, task_id)
            if "node_selector" not in kube:
                assert task["node_selector"] == org["node_selector"], (flow.stem, task_id)
            if "tolerations" not in kube:
                assert task["tolerations"] == expected_tolerations, (flow.stem, task_id)
            if "environment" not in own:
                for key, value in org["env"].items():
                    assert task["env"][key] == value, (flow.stem, task_id)
        assert steps >= 1, flow.stem


@pytest.mark.airflow2
@pytest.mark.skipif(not AF2_PYTHON.exists(), reason="no Airflow 2 virtualenv")
def test_org_golden_dags_load_on_airflow2(org_golden):
    tmp, results = org_golden
    assert all(c.proc.returncode == 0 for c in results.values())
    bag = load_dagbag(tmp / "dags", tmp, python=str(AF2_PYTHON))
    assert bag["errors"] == {}
    assert len(bag["dags"]) == len(results)
    for dag in bag["dags"].values():
        assert dag["owner_links"] == ORG_OWNER_LINKS
        assert {t["pool"] for t in dag["tasks"].values()} == {ORG_VALUES["pool"]}


def test_org_snapshots_have_no_leftovers():
    """snapshots/org/ holds one DAG per corpus flow and nothing else."""
    if not ORG_SNAPSHOTS.is_dir():
        pytest.skip("snapshots/org/ not generated yet (run with --snapshot-update)")
    on_disk = sorted(p.name for p in ORG_SNAPSHOTS.iterdir())
    assert on_disk == sorted(f"{f.stem}_dag.py" for f in CORPUS)


EXAMPLE_DAGS = sorted(
    p for p in ORG.glob("*.py") if p.name != "my_flow.py" and "dag" in p.stem.lower()
)


def test_example_org_dag_is_what_airflow_create_generates(tmp_path):
    """The committed example DAG is what the example organization generates now.

    Generate it in the test environment (see conftest.clean_env), from examples/org:
    METAFLOW_USER=tester METAFLOW_DEFAULT_DATASTORE=s3 METAFLOW_DEFAULT_METADATA=local
    METAFLOW_DATASTORE_SYSROOT_S3=s3://mfairflow-test/metaflow
    python my_flow.py airflow create my_flow_dag.py --offline

    Compared up to the code package's address (see portable()), which depends on the git
    commit and the Python of the machine; `--check` itself is tested further down.
    """
    assert EXAMPLE_DAGS, "examples/org/*dag*.py is missing"
    copy = tmp_path / "org"
    shutil.copytree(ORG, copy, ignore=shutil.ignore_patterns("__pycache__", ".metaflow"))
    for dag in EXAMPLE_DAGS:
        (copy / dag.name).unlink()
    for dag in EXAMPLE_DAGS:
        proc = subprocess.run(
            [sys.executable, "my_flow.py", "airflow", "create", dag.name, "--offline"],
            cwd=copy,
            env=clean_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        fresh = (copy / dag.name).read_text()
        assert portable(fresh) == portable(dag.read_text()), f"{dag.name} is stale"
        assert ORG_HEADER in fresh


# --------------------------------------------------------------------------------------------
# (b) Precedence: command line > step decorator > organization config > built-in default.
# --------------------------------------------------------------------------------------------

PRECEDENCE_FLOW = '''
from metaflow import FlowSpec, environment, kubernetes, retry, step


class PrecedenceFlow(FlowSpec):
    """Each step overrides one organization default with its own decorator."""

    @kubernetes(image="team/custom:2", namespace="team-ns", labels={"team": "x"})
    @step
    def start(self):
        self.next(self.flaky)

    @retry(times=3, minutes_between_retries=0)
    @step
    def flaky(self):
        self.next(self.staged)

    @environment(vars={"ACME_ENV": "staging"})
    @step
    def staged(self):
        self.next(self.quiet)

    @retry(times=0)
    @step
    def quiet(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PrecedenceFlow()
'''

PLAIN_FLOW = '''
from metaflow import FlowSpec, step


class PlainFlow(FlowSpec):
    """No decorators: built-in defaults or the organization's."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PlainFlow()
'''


@pytest.fixture(scope="module")
def precedence(tmp_path_factory):
    """Three DAGs in one folder: precedence (org + CLI pool), plain with and without org."""
    tmp = tmp_path_factory.mktemp("precedence")
    org = ("--config", str(ORG_CONFIG))
    jobs = {
        "precedence": ("precedence_flow.py", PRECEDENCE_FLOW, (*org, "--worker-pool", "cli_pool")),
        "plain_org": ("plain_flow.py", PLAIN_FLOW, org),
        "plain_default": ("plain_default_flow.py", PLAIN_FLOW, ("--name", "PlainDefault")),
    }

    def run(name):
        flow, text, args = jobs[name]
        return compile_flow(flow, tmp, *args, flow_text=text, dag_name=f"{name}_dag.py")

    compiled = in_parallel({name: (lambda name=name: run(name)) for name in jobs})
    for c in compiled.values():
        assert c.proc.returncode == 0, error_text(c.proc)
    bag = load_dagbag(tmp / "dags", tmp)
    assert bag["errors"] == {}
    return compiled, bag["dags"]


def test_cli_worker_pool_beats_the_config_pool(precedence):
    compiled, dags = precedence
    assert '"pool": "cli_pool"' in compiled["precedence"].source
    assert "ml_pool" not in compiled["precedence"].source
    assert {t["pool"] for t in dags["PrecedenceFlow"]["tasks"].values()} == {"cli_pool"}


def test_step_kubernetes_decorator_beats_the_config(precedence):
    _, dags = precedence
    tasks = dags["PrecedenceFlow"]["tasks"]
    start = tasks["start"]
    assert start["image"] == "team/custom:2"
    assert start["namespace"] == "team-ns"
    assert start["labels"]["team"] == "x"
    # What the step does not set still comes from the organization.
    assert start["labels"]["cost-center"] == ORG_VALUES["labels"]["cost-center"]
    assert start["service_account_name"] == ORG_VALUES["service_account"]
    for other in ("flaky", "staged", "quiet", "end"):
        assert tasks[other]["image"] == ORG_VALUES["image"]
        assert tasks[other]["namespace"] == ORG_VALUES["namespace"]
        assert tasks[other]["labels"]["team"] == ORG_VALUES["labels"]["team"]


def test_step_retry_beats_the_config_retries(precedence):
    _, dags = precedence
    tasks = dags["PrecedenceFlow"]["tasks"]
    assert tasks["flaky"]["retries"] == 3
    assert tasks["quiet"]["retries"] == 0  # @retry(times=0) is a decision too
    for step in ("start", "staged", "end"):
        assert tasks[step]["retries"] == ORG_VALUES["retries"]
    script = tasks["flaky"]["cmds"][2]
    assert "run_flow step flaky " in script and "--max-user-code-retries 3 " in script
    script = tasks["staged"]["cmds"][2]
    assert f"--max-user-code-retries {ORG_VALUES['retries']} " in script


def test_step_environment_beats_the_config_env(precedence):
    _, dags = precedence
    tasks = dags["PrecedenceFlow"]["tasks"]
    assert tasks["staged"]["env"]["ACME_ENV"] == "staging"
    for step in ("start", "flaky", "quiet", "end"):
        assert tasks[step]["env"]["ACME_ENV"] == ORG_VALUES["env"]["ACME_ENV"]


def test_config_beats_the_built_in_defaults(precedence):
    compiled, dags = precedence
    default = dags["PlainDefault"]["tasks"]
    org = dags["PlainFlow"]["tasks"]
    for step in ("start", "end"):
        assert re.fullmatch(r"python:3\.\d+", default[step]["image"])
        assert default[step]["namespace"] == "default"
        assert default[step]["service_account_name"] is None
        assert default[step]["retries"] == 0
        assert default[step]["pool"] == "default_pool"
        assert default[step]["callbacks"] == []
        assert "ACME_ENV" not in default[step]["env"]
        assert org[step]["image"] == ORG_VALUES["image"]
        assert org[step]["namespace"] == ORG_VALUES["namespace"]
        assert org[step]["service_account_name"] == ORG_VALUES["service_account"]
        assert org[step]["retries"] == ORG_VALUES["retries"]
        assert org[step]["pool"] == ORG_VALUES["pool"]
    assert dags["PlainDefault"]["owner_links"] == {}
    assert ORG_HEADER not in compiled["plain_default"].source
    assert ORG_HEADER in compiled["plain_org"].source


def test_config_is_found_beside_the_flow_or_above_it(tmp_path):
    """mfairflow.yaml above the flow (up to the repository root) is found; the nearest wins;
    --config beats discovery; the config used is named on the output."""
    for case in ("above", "near", "explicit"):
        (tmp_path / case / "flow_plain_flow").mkdir(parents=True)
        (tmp_path / case / ".git").mkdir()
        (tmp_path / case / "mfairflow.yaml").write_text("pool: parent_pool\n")
    for case in ("near", "explicit"):
        (tmp_path / case / "flow_plain_flow" / "mfairflow.yaml").write_text("pool: near_pool\n")
    args = {"above": (), "near": (), "explicit": ("--config", str(ORG_CONFIG))}
    runs = in_parallel(
        {
            case: (
                lambda case=case: compile_flow(
                    "plain_flow.py", tmp_path / case, *args[case], flow_text=PLAIN_FLOW
                )
            )
            for case in args
        }
    )
    for case, compiled in runs.items():
        assert compiled.proc.returncode == 0, (case, error_text(compiled.proc))
    assert '"pool": "parent_pool"' in runs["above"].source
    used = tmp_path / "above" / "mfairflow.yaml"
    assert f"Using the organization config {used}" in error_text(runs["above"].proc)
    assert '"pool": "near_pool"' in runs["near"].source
    explicit = runs["explicit"].source
    assert '"pool": "ml_pool"' in explicit and "near_pool" not in explicit
    assert ORG_HEADER in explicit  # template_dir: relative to the --config file


def test_config_search_stops_at_the_repository_root_or_the_home(tmp_path):
    """Issue 21.6: a mfairflow.yaml above the repository (a folder holding .git) or above the
    user's home is not applied; without either above the flow, only the flow's own folder
    counts."""
    (tmp_path / "mfairflow.yaml").write_text("pool: planted_pool\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / "mfairflow.yaml").write_text("pool: home_pool\n")
    cases = {
        "repo": (repo / "a", {}),
        "home": (home / "b", {"HOME": str(home)}),
        "nowhere": (tmp_path / "c", {}),
        "below_home": (tmp_path / "e" / "home2", {"HOME": str(tmp_path / "e" / "home2")}),
    }
    runs = in_parallel(
        {
            case: (
                lambda folder=folder, env=env: compile_flow(
                    "plain_flow.py", folder, env=env, flow_text=PLAIN_FLOW
                )
            )
            for case, (folder, env) in cases.items()
        }
    )
    for case, compiled in runs.items():
        assert compiled.proc.returncode == 0, (case, error_text(compiled.proc))
        assert "planted_pool" not in compiled.source, case
    assert '"pool": "home_pool"' in runs["home"].source
    assert "Using the organization config" not in error_text(runs["repo"].proc)
    assert '"pool"' not in runs["nowhere"].source


def test_templates_render_in_a_sandbox(tmp_path):
    """Issue 21.6: a template cannot reach Python's internals (here: os.system through a
    Jinja global); the attempt is a template error at its line, and nothing runs."""
    templates = tmp_path / "templates"
    templates.mkdir()
    canary = tmp_path / "canary"
    (templates / "dag.py.jinja").write_text(
        '{% extends "mfairflow/dag.py.jinja" %}\n{% block footer %}\n'
        f"# {{{{ cycler.__init__.__globals__.os.system('touch {canary}') }}}}\n"
        "{% endblock %}\n"
    )
    compiled = compile_flow(
        "plain_flow.py", tmp_path, "--template-dir", str(templates), flow_text=PLAIN_FLOW
    )
    assert compiled.proc.returncode == 2, error_text(compiled.proc)
    assert "template error" in compiled.proc.stderr and "unsafe" in compiled.proc.stderr
    assert "dag.py.jinja:" in compiled.proc.stderr
    assert not canary.exists()
    assert not compiled.dag_path.exists()


def test_sandboxed_templates_have_their_own_bytecode_cache(tmp_path):
    """The sandbox's compiled templates never reach another Jinja user of the shared per-user
    cache (an mfairflow from before the sandbox would fail on them), nor theirs the sandbox."""
    import jinja2

    from mfairflow.render import make_environment

    (tmp_path / "t.jinja").write_text('{{ "x".upper() }}')
    for _ in range(2):  # the second time from the cache
        assert make_environment([str(tmp_path)]).get_template("t.jinja").render() == "X"
        plain = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(tmp_path)]),
            bytecode_cache=jinja2.FileSystemBytecodeCache(),
        )
        assert plain.get_template("t.jinja").render() == "X"


# --------------------------------------------------------------------------------------------
# (c) Config errors: exit 2, `error:` naming the key and mfairflow.yaml:<line>, a hint, the DAG
# file untouched.
# --------------------------------------------------------------------------------------------

# (with mfairflow's header line: `create` replaces only a file mfairflow generated)
PREVIOUS_DAG = "# generated by 'mfairflow 0.1.0'.\n# the DAG file from the last good deploy\n"

# case → (mfairflow.yaml text, text the error names, line of the error); None: no key to name.
CONFIG_ERRORS = {
    "unknown_key": ("image: acme/python:3.11\nnamespce: ml\n", "namespce", 2),
    "retries_not_int": ("image: acme/python:3.11\n# retries\nretries: three\n", "retries", 3),
    "labels_list": ("pool: p\nlabels: [a, b]\n", "labels", 2),
    "tags_not_list": ("tags: acme-ml\n", "tags", 1),
    "retries_negative": ("pool: p\nretries: -1\n", "retries", 2),
    # Metaflow allows at most 4 retries (@retry(times=4)); a 7th attempt fails in the task.
    "retries_more_than_metaflow": ("pool: p\nretries: 99\n", "retries", 2),
    # Airflow's pool column holds 256 characters (--worker-pool is checked the same way).
    "pool_too_long": ("image: acme/python:3.11\npool: " + "p" * 257 + "\n", "pool", 2),
    "empty_image": ("pool: p\n\nimage: ''\n", "image", 3),
    "tolerations_not_maps": ("tolerations:\n  - dedicated\n", "tolerations", 1),
    "callback_not_import_path": (
        "pool: p\non_failure_callback: notify\n",
        "on_failure_callback",
        2,
    ),
    "callback_bad_name": ("on_failure_callback: acme.notify-failure\n", "on_failure_callback", 1),
    "template_dir_missing": ("pool: p\ntemplate_dir: no_such_folder\n", "template_dir", 2),
    "env_bad_name": ("env:\n  ACME: x\n  1BAD: y\n", "1BAD", 1),
    "invalid_yaml": ("image: acme/python:3.11\n  pool: p\n", "not valid YAML", 2),
    "not_a_mapping": ("- image\n- pool\n", "mapping", 1),
}
CONFIG_ERROR_BUGS = {
    "namespace_value": (
        ("pool: p\nnamespace: Bad_Namespace\n", "namespace", 2),
        "bug: an invalid value in mfairflow.yaml (namespace, label or annotation key, service "
        "account, node selector) is reported against the flow's @kubernetes decorator and a "
        "step ('@kubernetes(namespace=...)', 'plain_flow.py:9, step start'), not mfairflow.yaml",
    ),
    "label_key_value": (
        ("pool: p\nlabels:\n  'bad key!': x\n", "labels", 2),
        "bug: an invalid label key in mfairflow.yaml is reported against the flow's step "
        "('plain_flow.py:9, step start'), not mfairflow.yaml:<line>",
    ),
    "duplicate_key": (
        ("pool: a\nimage: x/y:1\npool: b\n", "pool", 3),
        "bug: a key written twice in mfairflow.yaml is accepted silently (the last wins)",
    ),
    "blank_pool": (
        ("pool: ' '\n", "pool", 1),
        "bug: `pool: ' '` in mfairflow.yaml is accepted although --worker-pool ' ' is an "
        "error ('--worker-pool cannot be empty')",
    ),
}


def compile_with_config_text(tmp: Path, text: str):
    """Compile PLAIN_FLOW with --config FILE holding `text`, over an existing DAG file."""
    config = tmp / "org" / "mfairflow.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(text)
    (tmp / "dags").mkdir()
    (tmp / "dags" / "plain_flow_dag.py").write_text(PREVIOUS_DAG)
    return compile_flow("plain_flow.py", tmp, "--config", str(config), flow_text=PLAIN_FLOW)


@pytest.fixture(scope="module")
def config_error_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("config-errors")
    cases = {**CONFIG_ERRORS, **{k: v for k, (v, _) in CONFIG_ERROR_BUGS.items()}}
    return in_parallel(
        {
            name: (lambda name=name, text=text: compile_with_config_text(base / name, text))
            for name, (text, _, _) in cases.items()
        }
    )


@pytest.mark.parametrize(
    "case",
    [
        *sorted(CONFIG_ERRORS),
        *sorted(CONFIG_ERROR_BUGS),
    ],
)
def test_config_errors_name_the_key_and_the_line(config_error_runs, case):
    _, key, line = CONFIG_ERRORS.get(case) or CONFIG_ERROR_BUGS[case][0]
    compiled = config_error_runs[case]
    proc = compiled.proc
    assert proc.returncode == 2, error_text(proc)
    assert "Traceback" not in error_text(proc)
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert key in errors[0]
    assert errors[0].endswith(f"mfairflow.yaml:{line})"), errors[0]
    assert re.search(r"^hint: \S", proc.stderr, re.M)
    # The DAG file of the last good deploy is untouched, and no temporary file is left.
    assert compiled.dag_path.read_text() == PREVIOUS_DAG
    assert [p.name for p in compiled.dag_path.parent.iterdir()] == [compiled.dag_path.name]


# More wrong types, checked in process (the CLI prints these errors like the cases above).
WRONG_TYPES = [
    ("retries: true\n", "retries", 1),
    ("pool: p\nretries: 1.5\n", "retries", 2),
    ("image: ~\n", "image", 1),
    ("service_account: 5\n", "service_account", 1),
    ("labels:\n  team: [x]\n", "labels", 1),
    ("pool: p\nlabels:\n  team: yes\n", "labels", 2),  # YAML's boolean, not the string "yes"
    ("annotations: note\n", "annotations", 1),
    ("node_selector: [a]\n", "node_selector", 1),
    ("tolerations: [{key: a}, 3]\n", "tolerations", 1),
    ("tags: [1, 2]\n", "tags", 1),
    ("env: [A=1]\n", "env", 1),
    ("template_dir: 3\n", "template_dir", 1),
    ("on_failure_callback: [a.b]\n", "on_failure_callback", 1),
    ("pool: p\n7: x\n", "7", 2),
    # issue 13.9: a toleration_seconds that is not a whole number was a traceback (int("soon"))
    ("pool: p\ntolerations:\n  - {key: a, toleration_seconds: soon}\n", "toleration_seconds", 2),
    ("tolerations: [{key: a, tolerationSeconds: 1.5}]\n", "toleration_seconds", 1),
]


@pytest.mark.parametrize("text,key,line", WRONG_TYPES, ids=[c[1] for c in WRONG_TYPES])
def test_config_wrong_types_name_the_key_and_the_line(tmp_path, text, key, line):
    from mfairflow.errors import CompileError
    from mfairflow.org_config import load_config

    config = tmp_path / "mfairflow.yaml"
    config.write_text(text)
    with pytest.raises(CompileError) as raised:
        load_config(config)
    rendered = raised.value.render()
    assert rendered.startswith("error: ") and key in rendered.splitlines()[0]
    assert raised.value.location == f"{config}:{line}"
    assert "\nhint: " in rendered


def test_example_config_loads_with_template_dir_relative_to_the_file(tmp_path, monkeypatch):
    from mfairflow.org_config import load_config

    monkeypatch.chdir(tmp_path)  # not relative to the working directory
    org = load_config(ORG_CONFIG)
    assert org.template_dir == str(ORG / "templates")
    assert org.image == ORG_VALUES["image"] and org.retries == ORG_VALUES["retries"]
    assert dict(org.labels) == ORG_VALUES["labels"]
    assert (
        org.where("pool")
        == f"{ORG_CONFIG}:{ORG_CONFIG.read_text().splitlines().index('pool: ml_pool') + 1}"
    )


def test_empty_config_file_means_no_organization_defaults(tmp_path):
    compiled = compile_with_config_text(tmp_path, "# nothing decided yet\n")
    assert compiled.proc.returncode == 0, error_text(compiled.proc)
    assert ORG_HEADER not in compiled.source and '"pool"' not in compiled.source


def test_config_file_given_with_config_must_exist(tmp_path):
    compiled = compile_flow(
        "plain_flow.py",
        tmp_path,
        "--config",
        str(tmp_path / "nope.yaml"),
        flow_text=PLAIN_FLOW,
    )
    assert compiled.proc.returncode == 2
    assert "error: the config file" in compiled.proc.stderr
    assert "nope.yaml" in compiled.proc.stderr and "hint: " in compiled.proc.stderr
    assert not compiled.dag_path.exists()


# --------------------------------------------------------------------------------------------
# (d) --check and (e) --emit-model.
# --------------------------------------------------------------------------------------------

CHANGED_FLOW = PLAIN_FLOW.replace('"""No decorators', '"""Changed: no decorators')


@pytest.fixture(scope="module")
def check_runs(tmp_path_factory):
    """`--check` in several situations, each in its own folder, side by side.

    name → (Compiled, DAG file text before the check or None, its mtime or None).
    """
    base = tmp_path_factory.mktemp("check")
    org = ("--config", str(ORG_CONFIG))
    first = compile_flow("plain_flow.py", base / "generate", *org, flow_text=PLAIN_FLOW)
    assert first.proc.returncode == 0, error_text(first.proc)
    fresh = first.source
    bad = base / "bad.yaml"
    bad.write_text("retries: many\n")
    stale = fresh.replace('"pool": "ml_pool"', '"pool": "old_pool"')
    assert stale != fresh
    scenarios = {
        "fresh": (fresh, org, PLAIN_FLOW),
        "stale": (stale, org, PLAIN_FLOW),
        "config_changed": (fresh, (), PLAIN_FLOW),
        "flow_changed": (fresh, org, CHANGED_FLOW),
        "missing": (None, org, PLAIN_FLOW),
        "user_error": (fresh, ("--config", str(bad)), PLAIN_FLOW),
        "emit_model": (fresh, (*org, "--emit-model", str(base / "model.yaml")), PLAIN_FLOW),
    }
    before = {}
    for name, (content, _, _) in scenarios.items():
        dags = base / name / "dags"
        dags.mkdir(parents=True)
        if content is not None:
            (dags / "plain_flow_dag.py").write_text(content)
            before[name] = (content, (dags / "plain_flow_dag.py").stat().st_mtime_ns)
        else:
            before[name] = (None, None)

    def run(name):
        _, args, text = scenarios[name]
        # --check renders offline by itself: no --offline here.
        return compile_flow(
            "plain_flow.py", base / name, "--check", *args, flow_text=text, offline=False
        )

    results = in_parallel({name: (lambda name=name: run(name)) for name in scenarios})
    return {name: (results[name], *before[name]) for name in scenarios}


def assert_untouched(check_runs, name: str) -> None:
    compiled, content, mtime = check_runs[name]
    assert compiled.dag_path.read_text() == content
    assert compiled.dag_path.stat().st_mtime_ns == mtime
    assert [p.name for p in compiled.dag_path.parent.iterdir()] == [compiled.dag_path.name]


def test_check_passes_on_a_fresh_file_and_leaves_it_alone(check_runs):
    proc = check_runs["fresh"][0].proc
    assert proc.returncode == 0, error_text(proc)
    assert "is up to date" in proc.stderr
    assert not re.search(r"^(---|\+\+\+|@@) ", proc.stdout, re.M)
    assert_untouched(check_runs, "fresh")


def test_check_fails_on_a_stale_file_with_a_unified_diff(check_runs):
    proc = check_runs["stale"][0].proc
    assert proc.returncode == 1, error_text(proc)
    out = proc.stdout
    assert re.search(r"^--- .*plain_flow_dag\.py \(on disk\)$", out, re.M)
    assert re.search(r"^\+\+\+ .*plain_flow_dag\.py \(generated\)$", out, re.M)
    assert re.search(r"^@@ -\d+(,\d+)? \+\d+(,\d+)? @@", out, re.M)
    changed = [x for x in out.splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]
    assert changed == ['-        "pool": "old_pool",', '+        "pool": "ml_pool",']
    assert "is not what `airflow create` generates now" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert_untouched(check_runs, "stale")


def test_check_fails_when_the_config_changed(check_runs):
    """A DAG committed before an organization-wide change is stale afterwards."""
    proc = check_runs["config_changed"][0].proc
    assert proc.returncode == 1, error_text(proc)
    assert re.search(r'^-\s+"pool": "ml_pool",$', proc.stdout, re.M)
    assert re.search(r"^-# Acme ML platform", proc.stdout, re.M)
    assert_untouched(check_runs, "config_changed")


def test_check_fails_when_the_flow_changed(check_runs):
    proc = check_runs["flow_changed"][0].proc
    assert proc.returncode == 1, error_text(proc)
    assert re.search(r"^\+.*Changed: no decorators", proc.stdout, re.M)
    # The code package changed with the flow: its content address is in the diff too.
    assert re.search(r"^\+CODE_PACKAGE_URL|^\+\s+\"s3://", proc.stdout, re.M)
    assert_untouched(check_runs, "flow_changed")


def test_check_fails_on_a_missing_file_and_does_not_create_it(check_runs):
    compiled = check_runs["missing"][0]
    assert compiled.proc.returncode == 1, error_text(compiled.proc)
    assert re.search(r"^\+\+\+ ", compiled.proc.stdout, re.M)
    assert re.search(r"^\+with DAG\($", compiled.proc.stdout, re.M)
    assert not compiled.dag_path.exists()
    assert list(compiled.dag_path.parent.iterdir()) == []


def test_check_reports_user_errors_as_exit_2_not_stale(check_runs):
    proc = check_runs["user_error"][0].proc
    assert proc.returncode == 2, error_text(proc)
    assert "error: 'retries'" in proc.stderr and "bad.yaml:1" in proc.stderr
    assert proc.stdout.count("@@") == 0
    assert_untouched(check_runs, "user_error")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_check_passes_after_committing_the_dag_next_to_the_flow(tmp_path):
    """The pull-request workflow: generate, commit flow and DAG together, CI runs --check."""

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    git("init", "-q", ".")
    flow_dir = tmp_path / "flow_plain_flow"
    flow_dir.mkdir()
    (flow_dir / "plain_flow.py").write_text(PLAIN_FLOW)
    git("add", ".")
    git("commit", "-qm", "flow")
    generated = compile_flow("plain_flow.py", tmp_path, flow_text=PLAIN_FLOW)
    assert generated.proc.returncode == 0, error_text(generated.proc)
    git("add", ".")
    git("commit", "-qm", "generated DAG")
    proc = compile_flow(
        "plain_flow.py", tmp_path, "--check", flow_text=PLAIN_FLOW, offline=False
    ).proc
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_emit_model_with_check_is_refused_and_writes_nothing(check_runs):
    """--check writes nothing, the model included (issue 13, item 4)."""
    compiled = check_runs["emit_model"][0]
    assert compiled.proc.returncode == 2, error_text(compiled.proc)
    assert "--emit-model cannot be used with --check" in compiled.proc.stderr
    assert not (compiled.dag_path.parents[2] / "model.yaml").exists()
    assert_untouched(check_runs, "emit_model")


def test_emit_model_writes_readable_yaml(tmp_path):
    model = tmp_path / "model" / "plain.yaml"
    model.parent.mkdir()
    compiled = compile_flow(
        "plain_flow.py",
        tmp_path,
        "--config",
        str(ORG_CONFIG),
        "--emit-model",
        str(model),
        flow_text=PLAIN_FLOW,
    )
    assert compiled.proc.returncode == 0, error_text(compiled.proc)
    data = yaml.safe_load(model.read_text())
    assert data["dag_id"] == "PlainFlow"
    assert [t["task_id"] for t in data["tasks"]] == ["start", "end"]
    assert data["pool"] == ORG_VALUES["pool"]
    assert data["tasks"][0]["pod"]["image"] == ORG_VALUES["image"]
    assert data["tasks"][0]["retries"] == ORG_VALUES["retries"]
    assert data["on_failure_callback"] == ["acme_alerts", "notify_failure"]
    assert data["edges"] == [["start", "end"]]
    # Every field of the model is there, so template authors see what they can use.
    from mfairflow.model import DagSpec

    assert list(data) == [f.name for f in dataclasses.fields(DagSpec)]


# --------------------------------------------------------------------------------------------
# (f) `mfairflow templates export` and (h) block overrides with --template-dir.
# --------------------------------------------------------------------------------------------


def mfairflow(*args: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mfairflow", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_templates_export_copies_the_packaged_templates(tmp_path):
    target = tmp_path / "acme-templates"
    proc = mfairflow("templates", "export", str(target))
    assert proc.returncode == 0, proc.stderr
    assert (target / "dag.py.jinja").is_file()
    assert (target / "operators" / "kubernetes.py.jinja").is_file()
    assert (target / "sensors.py.jinja").is_file()
    assert same_tree(target, TEMPLATES)


def test_templates_export_into_an_empty_existing_folder(tmp_path):
    proc = mfairflow("templates", "export", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert same_tree(tmp_path, TEMPLATES)


def test_templates_export_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "dag.py.jinja").write_text("mine\n")
    proc = mfairflow("templates", "export", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "not empty" in proc.stderr
    assert "hint: " in proc.stderr
    assert (tmp_path / "dag.py.jinja").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dag.py.jinja"]


def test_templates_export_onto_a_file_is_a_clear_error(tmp_path):
    target = tmp_path / "templates"
    target.write_text("")
    proc = mfairflow("templates", "export", str(target))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")


def replace_block(text: str, block: str, body: str) -> str:
    pattern = re.compile(r"\{% block " + block + r" %\}.*?\{% endblock %\}", re.S)
    assert pattern.search(text), block
    return pattern.sub(lambda _: f"{{% block {block} %}}\n{body}{{% endblock %}}", text, count=1)


EDITED_DEPENDENCIES = """\
    # Acme: dependencies spelled as set_downstream calls.
{% for upstream, downstream in dag.edges %}
    {{ upstream }}.set_downstream({{ downstream }})
{% endfor %}
"""

OVERRIDE_DEFAULT_ARGS_AND_TASKS = """\
{% extends "mfairflow/dag.py.jinja" %}
{% block default_args %}
{{ super() }}
        "email": ["oncall@acme.example"],
{% endblock %}
{% block tasks %}
{% for task in dag.tasks %}
    # Acme task: step {{ task.step }} ({{ task.kind }})
{{ operator.task(task, dag) }}
{% endfor %}
{% endblock %}
"""

OVERRIDE_IMPORTS_AND_DEPENDENCIES = """\
{% extends "mfairflow/dag.py.jinja" %}
{% block imports %}
{{ super() }}
import acme_alerts  # noqa: F401 (Acme: fail early if the alerts package is missing)
{% endblock %}
{% block dependencies %}
{% for upstream, downstream in dag.edges %}
    {{ downstream }}.set_upstream({{ upstream }})
{% endfor %}
{% endblock %}
"""

BRANCH_FLOW = '''
from metaflow import FlowSpec, step


class OverrideFlow(FlowSpec):
    """A branch, to see dependencies."""

    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    OverrideFlow()
'''
BRANCH_EDGES = {"a": ["start"], "b": ["start"], "join": ["a", "b"], "end": ["join"]}


@pytest.fixture(scope="module")
def overrides(tmp_path_factory):
    """The same flow rendered through three organization template folders, then DagBag."""
    tmp = tmp_path_factory.mktemp("overrides")
    exported = tmp / "exported"
    proc = mfairflow("templates", "export", str(exported))
    assert proc.returncode == 0, proc.stderr
    dag_file = exported / "dag.py.jinja"
    dag_file.write_text(replace_block(dag_file.read_text(), "dependencies", EDITED_DEPENDENCIES))
    blocks = tmp / "blocks"
    blocks.mkdir()
    (blocks / "dag.py.jinja").write_text(OVERRIDE_DEFAULT_ARGS_AND_TASKS)
    imports = tmp / "imports"
    imports.mkdir()
    (imports / "dag.py.jinja").write_text(OVERRIDE_IMPORTS_AND_DEPENDENCIES)

    jobs = {
        "exported": (exported, ()),
        "blocks": (blocks, ()),
        # --template-dir beats the config's template_dir (the Acme header is gone), while
        # the rest of the config still applies.
        "imports": (imports, ("--config", str(ORG_CONFIG))),
    }

    def run(name):
        folder, extra = jobs[name]
        return compile_flow(
            f"override_{name}_flow.py",
            tmp,
            "--template-dir",
            str(folder),
            "--name",
            f"Override_{name}",
            *extra,
            flow_text=BRANCH_FLOW,
            dag_name=f"override_{name}_dag.py",
        )

    compiled = in_parallel({name: (lambda name=name: run(name)) for name in jobs})
    for name, c in compiled.items():
        assert c.proc.returncode == 0, (name, error_text(c.proc))
    bag = load_dagbag(tmp / "dags", tmp)
    assert bag["errors"] == {}
    return compiled, bag["dags"]


def assert_branch_edges(dag: dict) -> None:
    for task, upstream in BRANCH_EDGES.items():
        assert dag["tasks"][task]["upstream"] == sorted(upstream), task


def test_exported_templates_with_an_edited_block_render_the_edit(overrides):
    compiled, dags = overrides
    source = compiled["exported"].source
    compile(source, "override_exported_dag.py", "exec")
    assert "# Acme: dependencies spelled as set_downstream calls." in source
    assert "    start.set_downstream(a)\n" in source
    assert not re.search(r"^\s+\w+ >> \w+$", source, re.M)
    assert_branch_edges(dags["Override_exported"])


def test_template_dir_override_of_default_args_and_tasks_blocks(overrides):
    compiled, dags = overrides
    source = compiled["blocks"].source
    assert '"email": ["oncall@acme.example"],' in source
    assert '"execution_timeout": timedelta(days=5),' in source  # super() kept the defaults
    for step, kind in (("start", "split"), ("join", "join"), ("end", "end")):
        assert f"    # Acme task: step {step} ({kind})\n    {step} = metaflow_step(" in source
    assert "    start >> a\n" in source  # the blocks not overridden are the default
    dag = dags["Override_blocks"]
    assert {tuple(t["email"] or ()) for t in dag["tasks"].values()} == {("oncall@acme.example",)}
    assert_branch_edges(dag)


def test_template_dir_option_beats_the_config_template_dir(overrides):
    compiled, dags = overrides
    source = compiled["imports"].source
    assert ORG_HEADER not in source  # examples/org/templates/dag.py.jinja is shadowed
    assert "import acme_alerts  # noqa: F401" in source
    assert "    a.set_upstream(start)\n" in source
    dag = dags["Override_imports"]
    assert dag["owner_links"] == {}
    assert {t["pool"] for t in dag["tasks"].values()} == {ORG_VALUES["pool"]}
    assert_branch_edges(dag)


def test_template_error_in_an_override_is_exit_2_with_the_file_untouched(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "dag.py.jinja").write_text(
        '{% extends "mfairflow/dag.py.jinja" %}\n'
        "{% block header %}# {{ dag.no_such_field }}\n{% endblock %}\n"
    )
    (tmp_path / "dags").mkdir()
    existing = tmp_path / "dags" / "plain_flow_dag.py"
    existing.write_text(PREVIOUS_DAG)
    compiled = compile_flow(
        "plain_flow.py", tmp_path, "--template-dir", str(folder), flow_text=PLAIN_FLOW
    )
    assert compiled.proc.returncode == 2, error_text(compiled.proc)
    assert "error: template error" in compiled.proc.stderr
    assert "no_such_field" in compiled.proc.stderr
    assert "hint: " in compiled.proc.stderr and "Traceback" not in compiled.proc.stderr
    assert existing.read_text() == PREVIOUS_DAG


def test_template_that_raises_a_type_error_is_a_template_error_with_its_line(tmp_path):
    """Issue 13.9: an exception other than Jinja's own (a TypeError in an expression) was a
    traceback; it is a template error naming the template's file:line."""
    folder = tmp_path / "typed"
    folder.mkdir()
    (folder / "dag.py.jinja").write_text(
        '{% extends "mfairflow/dag.py.jinja" %}\n'
        "{% block header %}\n# fine\n# {{ dag.dag_id + 1 }}\n{% endblock %}\n"
    )
    (tmp_path / "dags").mkdir()
    existing = tmp_path / "dags" / "plain_flow_dag.py"
    existing.write_text(PREVIOUS_DAG)
    compiled = compile_flow(
        "plain_flow.py", tmp_path, "--template-dir", str(folder), flow_text=PLAIN_FLOW
    )
    stderr = compiled.proc.stderr
    assert compiled.proc.returncode == 2, error_text(compiled.proc)
    assert "Traceback" not in stderr, stderr
    error = next(line for line in stderr.splitlines() if line.startswith("error: "))
    assert error.startswith("error: template error: TypeError: "), error
    assert error.endswith(f"({folder / 'dag.py.jinja'}:4)"), error
    assert "\nhint: " in stderr
    assert existing.read_text() == PREVIOUS_DAG


def test_missing_template_dir_option_is_an_error(tmp_path):
    compiled = compile_flow(
        "plain_flow.py",
        tmp_path,
        "--template-dir",
        str(tmp_path / "no_such_folder"),
        flow_text=PLAIN_FLOW,
    )
    assert compiled.proc.returncode == 2
    assert "no_such_folder" in compiled.proc.stderr
    assert not compiled.dag_path.exists()


def test_override_extending_itself_is_a_clear_error(tmp_path):
    folder = tmp_path / "selfish"
    folder.mkdir()
    (folder / "dag.py.jinja").write_text(
        '{% extends "dag.py.jinja" %}\n{% block header %}# mine\n{% endblock %}\n'
    )
    compiled = compile_flow(
        "plain_flow.py", tmp_path, "--template-dir", str(folder), flow_text=PLAIN_FLOW
    )
    assert compiled.proc.returncode == 2
    assert "Traceback" not in compiled.proc.stderr
    assert "mfairflow/dag.py.jinja" in compiled.proc.stderr


# --------------------------------------------------------------------------------------------
# (g) docs/templates.md is generated from the model and is not stale.
# --------------------------------------------------------------------------------------------

DOCS = ROOT / "docs" / "templates.md"


def test_template_docs_are_not_stale():
    proc = mfairflow("docs")
    assert proc.returncode == 0, proc.stderr
    assert (
        DOCS.read_text() == proc.stdout
    ), "docs/templates.md is stale: run `python -m mfairflow docs -o docs/templates.md`"


def test_template_docs_output_option_writes_the_same_text(tmp_path):
    out = tmp_path / "templates.md"
    proc = mfairflow("docs", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == DOCS.read_text()


def test_template_docs_cover_every_model_field_and_every_block():
    from mfairflow import model

    text = DOCS.read_text()
    for value in vars(model).values():
        if dataclasses.is_dataclass(value) and value.__module__ == model.__name__:
            assert f"## `{value.__name__}`" in text
            for field in dataclasses.fields(value):
                assert f"| `{field.name}` |" in text, (value.__name__, field.name)
    # The block list in the docs is written by hand: compare it with the template itself.
    blocks = re.findall(r"\{% block (\w+) %\}", (TEMPLATES / "dag.py.jinja").read_text())
    assert blocks
    for block in blocks:
        assert f"`{block}`" in text, block
