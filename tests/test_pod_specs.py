"""Every pod a generated DAG would start is a valid Kubernetes pod carrying what the flow asked for.

Each flow is compiled (offline, s3 datastore), its DAG file loaded by Airflow's DagBag in this
process, and each KubernetesPodOperator (a mapped body as split 0, built from its partial kwargs
as Airflow unmaps it) renders its templates with the DAG's own Jinja environment and builds its
pod with the operator's own ``build_pod_request_obj``. The pod is checked twice:

* against the Kubernetes OpenAPI schema with kubernetes-validate (strict: no unknown fields);
* against the API server's own value rules, which the schema does not carry (label and annotation
  syntax, DNS names, environment variable names, resource quantities, requests versus limits,
  toleration rules): ``pod_problems`` below.
"""

from __future__ import annotations

import re
import textwrap
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import kubernetes_validate
import pytest
from conftest import ROOT, compile_flow
from dag_inspect import (
    RUN_ID,
    SPLITS,
    base_container,
    env_of,
    is_mapped,
    load_dag,
    pod_manifest,
    pod_operators,
    write_kubeconfig,
)

POD_FLOWS = ROOT / "tests" / "pod_flows"
KUBERNETES_VERSION = kubernetes_validate.latest_version()
CONFIG_ENV = {
    "METAFLOW_KUBERNETES_SECRETS": "shared-one,shared-two",
    "METAFLOW_KUBERNETES_SERVICE_ACCOUNT": "default-sa",
}
FLOWS = {
    "my_airflow_flow.py": {},
    "foreach_flow.py": {},
    "kube_options_flow.py": CONFIG_ENV,
    "production_ml_flow.py": {},
}
SYSTEM_LABELS = {
    "app": "metaflow",
    "app.kubernetes.io/name": "metaflow-task",
    "app.kubernetes.io/part-of": "metaflow",
}

# --- Kubernetes' value rules (k8s.io/apimachinery/pkg/util/validation) ----------------------
_NAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)"
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = rf"{_DNS_LABEL}(\.{_DNS_LABEL})*"
_ENV_NAME = r"[-._a-zA-Z][-._a-zA-Z0-9]*"
_QUANTITY = re.compile(  # a decimal exponent ("2e3") too, as Kubernetes' grammar allows
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>[eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|)"
)
_SUFFIXES = {
    "": Fraction(1),
    "m": Fraction(1, 1000),
    **{s: Fraction(1000**i) for i, s in enumerate("kMGTPE", start=1)},
    **{s + "i": Fraction(1024**i) for i, s in enumerate("KMGTPE", start=1)},
}


def is_dns_label(value: str) -> bool:
    return len(value) <= 63 and re.fullmatch(_DNS_LABEL, value) is not None


def is_dns_subdomain(value: str) -> bool:
    return len(value) <= 253 and re.fullmatch(_DNS_SUBDOMAIN, value) is not None


def is_qualified_name(key: str) -> bool:
    """A label or annotation key: an optional DNS subdomain and '/', then a name."""
    prefix, slash, name = key.rpartition("/")
    if slash and not is_dns_subdomain(prefix):
        return False
    return len(name) <= 63 and re.fullmatch(_NAME, name) is not None


def is_label_value(value: str) -> bool:
    return value == "" or (len(value) <= 63 and re.fullmatch(_NAME, value) is not None)


def quantity(text: str) -> Fraction:
    match = _QUANTITY.fullmatch(text)
    assert match, f"{text!r} is not a Kubernetes quantity"
    suffix = match.group("suffix")
    factor = Fraction(10) ** int(suffix[1:]) if len(suffix) > 1 and suffix[0] in "eE" else None
    number = Fraction(match.group("sign") + match.group("number").rstrip(".") or "0")
    return number * (factor if factor is not None else _SUFFIXES[suffix])


def overcommit_allowed(resource: str) -> bool:
    """Native resources (no domain, or kubernetes.io) other than huge pages."""
    native = "/" not in resource or "kubernetes.io/" in resource
    return native and not resource.startswith("hugepages-")


def pod_problems(manifest: dict) -> list[str]:
    """What the API server would reject in a pod that the OpenAPI schema lets through."""
    problems = []
    meta, spec = manifest["metadata"], manifest["spec"]
    if not is_dns_subdomain(meta["name"]):
        problems.append(f"pod name {meta['name']!r}")
    if not is_dns_label(meta.get("namespace") or "default"):
        problems.append(f"namespace {meta.get('namespace')!r}")
    for key, value in (meta.get("labels") or {}).items():
        if not is_qualified_name(key) or not is_label_value(value):
            problems.append(f"label {key!r}: {value!r}")
    annotations = meta.get("annotations") or {}
    for key in annotations:
        if not is_qualified_name(key):
            problems.append(f"annotation key {key!r}")
    if sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items()) > 256 * 1024:
        problems.append("annotations larger than 256 KiB")
    account = spec.get("serviceAccountName")
    if account is not None and not is_dns_subdomain(account):
        problems.append(f"service account {account!r}")
    for key, value in (spec.get("nodeSelector") or {}).items():
        if not is_qualified_name(key) or not is_label_value(value):
            problems.append(f"node selector {key!r}: {value!r}")
    for toleration in spec.get("tolerations") or []:
        problems += _toleration_problems(toleration)
    for container in spec["containers"]:
        if not is_dns_label(container["name"]):
            problems.append(f"container name {container['name']!r}")
        for item in container.get("env") or []:
            if not re.fullmatch(_ENV_NAME, item["name"]):
                problems.append(f"env var name {item['name']!r}")
        for source in container.get("envFrom") or []:
            name = (source.get("secretRef") or source.get("configMapRef") or {}).get("name")
            if name is None or not is_dns_subdomain(name):
                problems.append(f"envFrom {source!r}")
        problems += _resource_problems(container.get("resources") or {})
    return problems


def _toleration_problems(toleration: dict) -> list[str]:
    problems = []
    key, value = toleration.get("key") or "", toleration.get("value") or ""
    operator, effect = toleration.get("operator") or "Equal", toleration.get("effect") or ""
    if key and not is_qualified_name(key):
        problems.append(f"toleration key {key!r}")
    if not key and operator != "Exists":
        problems.append("toleration without key must use operator Exists")
    if operator not in ("Equal", "Exists"):
        problems.append(f"toleration operator {operator!r}")
    if operator == "Exists" and value:
        problems.append("toleration with operator Exists cannot have a value")
    if not is_label_value(value):
        problems.append(f"toleration value {value!r}")
    if effect not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
        problems.append(f"toleration effect {effect!r}")
    if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
        problems.append("tolerationSeconds needs effect NoExecute")
    return problems


def _resource_problems(resources: dict) -> list[str]:
    problems = []
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for name, value in {**requests, **limits}.items():
        if _QUANTITY.fullmatch(value) is None:
            problems.append(f"resource {name}: {value!r} is not a quantity")
    for name, value in requests.items():
        if name in limits:
            if not overcommit_allowed(name) and quantity(value) != quantity(limits[name]):
                problems.append(f"request of {name} must equal its limit")
            elif quantity(value) > quantity(limits[name]):
                problems.append(f"request of {name} exceeds its limit")
        elif not overcommit_allowed(name):
            problems.append(f"{name} is requested without a limit (not overcommitable)")
    return problems


def validate_pod(manifest: dict) -> None:
    """Schema (kubernetes-validate, strict) and value rules (pod_problems) together."""
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    assert pod_problems(manifest) == [], manifest


# --- Fixtures ------------------------------------------------------------------------------


def compile_many(tmp: Path, jobs: dict) -> dict:
    """Compile several flows at once: {key: (flow path, args, env, flow text)} → Compiled."""

    def one(item):
        key, (flow, args, env, text) = item
        return key, compile_flow(flow, tmp / key, *args, env=env, flow_text=text)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, jobs.items()))


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory) -> Path:
    return write_kubeconfig(tmp_path_factory.mktemp("kube"))


@pytest.fixture(scope="module")
def dags(tmp_path_factory) -> dict:
    """flow file → loaded DAG, for every flow of tests/pod_flows."""
    tmp = tmp_path_factory.mktemp("pod-flows")
    compiled = compile_many(
        tmp, {name: (POD_FLOWS / name, (), env, None) for name, env in FLOWS.items()}
    )
    for name, result in compiled.items():
        assert result.proc.returncode == 0, (name, result.proc.stderr)
    return {name: load_dag(result.dag_path) for name, result in compiled.items()}


@pytest.fixture(scope="module")
def pods(dags, kubeconfig) -> dict:
    """flow file → task id → pod manifest (rendered as in a scheduled run)."""
    return {
        name: {
            task_id: pod_manifest(operator, kubeconfig)
            for task_id, operator in pod_operators(dag).items()
        }
        for name, dag in dags.items()
    }


def requests_of(manifest: dict) -> dict:
    return {k: quantity(v) for k, v in base_container(manifest)["resources"]["requests"].items()}


def limits_of(manifest: dict) -> dict:
    limits = base_container(manifest)["resources"].get("limits") or {}
    return {k: quantity(v) for k, v in limits.items()}


def secrets_of(manifest: dict) -> list:
    return [source["secretRef"]["name"] for source in base_container(manifest).get("envFrom") or []]


def megabytes(count: int) -> Fraction:
    return Fraction(count * 1000 * 1000)


# --- Every pod of every flow is valid ------------------------------------------------------


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_every_pod_is_a_valid_kubernetes_pod(dags, pods, flow):
    from airflow.sdk.bases.sensor import BaseSensorOperator

    steps = {t.task_id for t in dags[flow].tasks if not isinstance(t, BaseSensorOperator)}
    assert set(pods[flow]) == steps  # every step is a pod (sensors are not)
    for task_id, manifest in pods[flow].items():
        validate_pod(manifest)
        meta = manifest["metadata"]
        assert SYSTEM_LABELS.items() <= meta["labels"].items(), task_id
        assert meta["annotations"]["metaflow/production_token"], task_id
        env = env_of(manifest)
        assert env["METAFLOW_AIRFLOW_DAG_RUN_ID"] == RUN_ID
        cmd = base_container(manifest)["command"]
        assert cmd[:2] == ["bash", "-c"] and "{{" not in cmd[2], task_id
        # Metaflow's log capture finds the task by these, exported before anything else runs.
        exports = re.match(r"export MF_PATHSPEC=(\S+) MF_ATTEMPT=(\d+) && ", cmd[2])
        assert exports, cmd[2][:200]
        assert exports.group(1).split("/")[2] == task_id and exports.group(2) == "0"


def test_label_rules_reject_what_kubernetes_rejects():
    """The checker itself: kubernetes-validate alone lets these through."""
    assert is_qualified_name("example.com/cost-center") and is_label_value("c-1.2_3")
    assert is_label_value("") and not is_label_value("not valid!")
    assert not is_label_value("x" * 64) and not is_label_value("bad\n")
    assert not is_qualified_name("-x") and not is_qualified_name("Example.com/x")
    assert not is_qualified_name('{{ "mesh" }}') and not is_dns_label("team.ml")
    assert not is_dns_subdomain("a..b") and is_dns_subdomain("a.b-c")


# --- What each flow asked for --------------------------------------------------------------


def test_guide_flow_pods_get_the_decorator_resources(pods):
    flow = pods["my_airflow_flow.py"]
    assert requests_of(flow["process"]) == {
        "cpu": 2,
        "memory": megabytes(4096),
        "ephemeral-storage": megabytes(10240),
    }
    for step in ("start", "end"):  # @kubernetes defaults on steps without a decorator
        assert requests_of(flow[step]) == {
            "cpu": 1,
            "memory": megabytes(4096),
            "ephemeral-storage": megabytes(10240),
        }
    for manifest in flow.values():
        assert limits_of(manifest) == {}
        assert manifest["metadata"]["namespace"] == "default"
        assert "serviceAccountName" not in manifest["spec"]
        assert secrets_of(manifest) == []


def test_foreach_body_is_mapped_and_its_pod_runs_one_split(dags, pods):
    dag = dags["foreach_flow.py"]
    assert is_mapped(dag.get_task("process"))
    assert not any(is_mapped(dag.get_task(s)) for s in ("start", "join", "end"))
    body = pods["foreach_flow.py"]["process"]
    assert base_container(body)["args"] == SPLITS[0]
    script = base_container(body)["command"][2]
    # The body's step command takes the split arguments ("$@" of `bash -c SCRIPT metaflow ARGS`).
    assert re.search(r'\bstep process\b[^&;]*--task-id t-0\b[^&;]*"\$@"', script), script
    assert re.match(r"export MF_PATHSPEC=\w+/airflow-[0-9a-f]{12}/process/t-0 ", script)
    assert requests_of(body)["cpu"] == 2
    join = base_container(pods["foreach_flow.py"]["join"])["command"][2]
    assert re.search(r"--input-paths airflow-[0-9a-f]{12}/process/t-:0,1,2\b", join)


def test_guide_production_flow_gpu_body(dags, pods):
    assert is_mapped(dags["production_ml_flow.py"].get_task("train_model"))
    train = pods["production_ml_flow.py"]["train_model"]
    assert requests_of(train)["cpu"] == 8
    assert requests_of(train)["memory"] == megabytes(32768)
    assert limits_of(train) == {"nvidia.com/gpu": 1}
    assert requests_of(pods["production_ml_flow.py"]["load_data"])["memory"] == megabytes(16384)


def test_every_kubernetes_option_reaches_the_pod(pods):
    start = pods["kube_options_flow.py"]["start"]
    meta, spec = start["metadata"], start["spec"]
    assert requests_of(start) == {
        "cpu": 4,
        "memory": megabytes(8192),
        "ephemeral-storage": megabytes(20480),
    }
    assert limits_of(start) == {"nvidia.com/gpu": 1}
    assert base_container(start)["image"] == "registry.example.com/team/trainer:1.2.3"
    assert meta["namespace"] == "ml-jobs"
    assert spec["serviceAccountName"] == "trainer-sa"
    # The step's own secrets, then METAFLOW_KUBERNETES_SECRETS.
    assert secrets_of(start) == ["a", "b", "shared-one", "shared-two"]
    assert spec["nodeSelector"] == {
        "node.kubernetes.io/instance-type": "g5.xlarge",
        "pool": "gpu",
    }
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {
            "key": "dedicated",
            "operator": "Equal",
            "value": "ml",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    assert {"team": "ml", "example.com/cost-center": "c-123"}.items() <= meta["labels"].items()
    assert {
        "example.com/owner": "Jane Doe <jane@example.com>",
        "example.com/note": "free text: {{ not a template }} 'q' \"qq\"",
    }.items() <= meta["annotations"].items()
    env = env_of(start)
    assert env["GREETING"] == "hello world"
    assert env["TEMPLATE_LIKE"] == "{{ ds }} {% if x %}{# no #}"
    assert env["QUOTED"] == 'it\'s "quoted" \\ and\nmulti-line\n'


def test_shared_memory_port_pull_secrets_and_security_context_reach_the_pod(pods):
    amd = pods["kube_options_flow.py"]["amd"]
    spec, container = amd["spec"], base_container(amd)
    assert {"name": "dhsm", "emptyDir": {"medium": "Memory", "sizeLimit": "2048Mi"}} in spec[
        "volumes"
    ]
    assert {"name": "dhsm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert container["ports"] == [{"containerPort": 8080}]
    assert spec["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror-creds"}]
    assert container["securityContext"] == {
        "runAsUser": 1000,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # The other steps set none of these.
    start = pods["kube_options_flow.py"]["start"]
    assert not base_container(start).get("ports")
    assert not base_container(start).get("securityContext")
    assert not start["spec"].get("imagePullSecrets")


def test_amd_gpu_with_guaranteed_qos(pods):
    amd = pods["kube_options_flow.py"]["amd"]
    requests = requests_of(amd)
    assert requests == {"cpu": 1, "memory": megabytes(4096), "ephemeral-storage": megabytes(10240)}
    assert limits_of(amd) == {**requests, "amd.com/gpu": 2}
    assert base_container(amd)["image"] == "rocm/pytorch:latest"


def test_resources_decorator_and_configured_defaults(pods):
    flow = pods["kube_options_flow.py"]
    # @resources alone: the pod gets its sizes.
    assert requests_of(flow["sized"]) == {
        "cpu": 3,
        "memory": megabytes(6000),
        "ephemeral-storage": megabytes(30000),
    }
    assert limits_of(flow["sized"]) == {}
    # @kubernetes and @resources together: the larger of the two, and @resources' GPU.
    assert requests_of(flow["both"]) == {
        "cpu": 4,
        "memory": megabytes(16384),
        "ephemeral-storage": megabytes(10240),
    }
    assert limits_of(flow["both"]) == {"nvidia.com/gpu": 1}
    assert flow["both"]["spec"]["nodeSelector"] == {"pool": "cpu", "zone": "a"}
    # METAFLOW_KUBERNETES_SERVICE_ACCOUNT / _SECRETS for every step that sets none itself.
    for step in ("amd", "sized", "both", "end"):
        assert flow[step]["spec"]["serviceAccountName"] == "default-sa", step
        assert secrets_of(flow[step]) == ["shared-one", "shared-two"], step
        assert flow[step]["metadata"]["namespace"] == "default", step


# --- Values that Airflow's templating must not touch ---------------------------------------

QUIRKS_FLOW = textwrap.dedent("""\
    from metaflow import FlowSpec, kubernetes, step


    class QuirksFlow(FlowSpec):
        @kubernetes(
            labels={"mesh": "istio", "app.example.com/refresh": "fresh"},
            annotations={"example.com/publish": "yes", "example.com/config.json": "x.json"},
            node_selector={"example.com/fresh": "yes"},
            tolerations=[
                {"key": "dedicated", "operator": "Equal", "value": "bash", "effect": "NoSchedule"}
            ],
        )
        @step
        def start(self):
            self.next(self.end)

        @kubernetes(extended_resources={"example.com/fpga": "1"})
        @step
        def end(self):
            pass


    if __name__ == "__main__":
        QuirksFlow()
    """)


@pytest.fixture(scope="module")
def quirks(tmp_path_factory, kubeconfig) -> dict:
    tmp = tmp_path_factory.mktemp("quirks")
    result = compile_flow("quirks_flow.py", tmp, flow_text=QUIRKS_FLOW)
    assert result.proc.returncode == 0, result.proc.stderr
    dag = load_dag(result.dag_path)
    return {t: pod_manifest(op, kubeconfig) for t, op in pod_operators(dag).items()}


def test_keys_and_tolerations_ending_like_template_files_reach_the_pod(quirks):
    meta, spec = quirks["start"]["metadata"], quirks["start"]["spec"]
    assert {"mesh": "istio", "app.example.com/refresh": "fresh"}.items() <= meta["labels"].items()
    assert {
        "example.com/publish": "yes",
        "example.com/config.json": "x.json",
    }.items() <= meta["annotations"].items()
    assert spec["nodeSelector"] == {"example.com/fresh": "yes"}
    assert spec["tolerations"][0]["value"] == "bash"
    assert pod_problems(quirks["start"]) == []


def test_extended_resources_are_requested_and_limited(quirks):
    end = quirks["end"]
    assert requests_of(end)["example.com/fpga"] == 1
    assert limits_of(end).get("example.com/fpga") == 1
    assert pod_problems(end) == []


# --- Names Kubernetes rejects: a clean error at compile time, not a pod that never starts ----

INVALID = {
    "label value with a newline": '@kubernetes(labels={"team": "ml\\n"})',
    "namespace with a newline": '@kubernetes(namespace="ml\\n")',
    "namespace with a dot": '@kubernetes(namespace="team.ml")',
    "secret name not a DNS name": '@kubernetes(secrets=["My Secret!"])',
    "toleration value not a label": '@kubernetes(tolerations=[{"key": "k", "operator": "Equal",'
    ' "value": "not valid!", "effect": "NoSchedule"}])',
    "environment variable name with a newline": '@environment(vars={"FOO\\n": "1"})',
}
# Cases mfairflow accepts although Kubernetes rejects the pod (none left).
ACCEPTED_TODAY: set = set()


def invalid_flow(decorator: str) -> str:
    return textwrap.dedent(f"""\
        from metaflow import FlowSpec, environment, kubernetes, step


        class InvalidFlow(FlowSpec):
            {decorator}
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass


        if __name__ == "__main__":
            InvalidFlow()
        """)


@pytest.fixture(scope="module")
def invalid_results(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("invalid")
    return compile_many(
        tmp,
        {
            f"case{i}": (Path("invalid_flow.py"), (), None, invalid_flow(decorator))
            for i, decorator in enumerate(INVALID.values())
        },
    )


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            case,
            marks=(
                [pytest.mark.xfail(strict=True, reason="bug: accepted, Kubernetes rejects it")]
                if case in ACCEPTED_TODAY
                else []
            ),
        )
        for case in INVALID
    ],
)
def test_names_kubernetes_rejects_are_compile_errors(invalid_results, case):
    result = invalid_results[f"case{list(INVALID).index(case)}"]
    output = result.proc.stdout + result.proc.stderr
    assert result.proc.returncode == 2, output
    assert "error:" in output and "hint:" in output and "Traceback" not in output
    assert not result.dag_path.exists()


# --- Issue 17: switches and static splits inside foreaches, foreaches inside switch cases ---

# flow file (in tests/flows) → (XCom a switch step leaves: task id → chosen case, merge step,
# the merge's input path for split 0 / its only task)
SHAPE_FLOWS = {
    "switch_foreach_flow.py": ({"start": "pair"}, "merge", "pair_join/t-0"),
    "foreach_switch_flow.py": ({"per_number": "odd"}, "merge", "odd/t-0"),
    "foreach_switch_join_flow.py": (
        {"process_item": "handle_b"},
        "join",
        ":handle_b/t-0,handle_b/t-1,handle_b/t-2",
    ),
    "switch_in_branch_flow.py": ({"a": "d"}, "join", "b/t-0,{run}/d/t-0"),
    "nested_switch_flow.py": (
        {"start": "inner", "inner": "y", "inner_merge": "q"},
        "merge",
        "q/t-0",
    ),
    "foreach_split_flow.py": ({}, "combine", "upper/t-0,{run}/length/t-0,{run}/reverse_twice/t-0"),
}


@pytest.fixture(scope="module")
def shape_dags(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("shape-flows")
    flows = ROOT / "tests" / "flows"
    compiled = compile_many(tmp, {name: (flows / name, (), {}, None) for name in SHAPE_FLOWS})
    for name, result in compiled.items():
        assert result.proc.returncode == 0, (name, result.proc.stderr)
    return {name: load_dag(result.dag_path) for name, result in compiled.items()}


@pytest.mark.parametrize("flow", sorted(SHAPE_FLOWS))
def test_pods_of_switches_and_splits_in_foreaches_are_valid(
    shape_dags, kubeconfig, monkeypatch, flow
):
    import dag_inspect

    choices, merge, merge_inputs = SHAPE_FLOWS[flow]

    def xcom_pull(self, task_ids=None, **_):
        return choices.get(task_ids, SPLITS)

    monkeypatch.setattr(dag_inspect.FakeTaskInstance, "xcom_pull", xcom_pull)
    dag = shape_dags[flow]
    operators = pod_operators(dag)
    steps = {t.task_id for t in dag.tasks if not t.task_id.endswith("_choice")}
    assert set(operators) == steps
    for task_id, operator in operators.items():
        manifest = pod_manifest(operator, kubeconfig)
        validate_pod(manifest)
        cmd = base_container(manifest)["command"]
        assert "{{" not in cmd[2], task_id
    run = f"airflow-{cmd[2].split('airflow-')[1][:12]}"
    merge_cmd = base_container(pod_manifest(operators[merge], kubeconfig))["command"][2]
    expected = f"--input-paths {run}/" + merge_inputs.format(run=run)
    assert expected in merge_cmd, merge_cmd
