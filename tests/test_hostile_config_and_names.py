"""Hostile text in the organization config, step names, docstrings and extended resources.

The flow-controlled strings that test_hostile.py does not reach: every value an organization
config (mfairflow.yaml) accepts, the name of every step (identifiers, names of the DAG file's
own constants and helpers, Airflow's template variables, long names), the docstring of every
step, and the amount of an extended resource. As in test_hostile, each example is one compile
of many values at once; the DAG is loaded by Airflow's DagBag in this process (no import
errors), from a folder where any code that ran would have left a MARKER file (none may), and
every templated field that carries a value is rendered as Airflow renders it and compared with
the value. Values Kubernetes or Metaflow cannot take are rejected with exit 2 (or, for a step
name, by Metaflow's own checker), never a traceback.

Set MFAIRFLOW_FUZZ_EXAMPLES to run more examples (each costs a compile, about 3 s).
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from contextlib import contextmanager
from pathlib import Path

import yaml
from conftest import compile_flow
from dag_inspect import (
    base_container,
    env_of,
    load_dag,
    pod_manifest,
    pod_operators,
    write_kubeconfig,
)
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from test_hostile import (
    CODE,
    EVERYTHING,
    FUZZ,
    assert_clean_rejection,
    expected_doc,
    hostile,
    no_nul,
    pool_ok,
    short_text,
    words_of,
)

EXAMPLES = int(os.environ.get("MFAIRFLOW_FUZZ_EXAMPLES", "3"))
# Text that runs code if it ever becomes code: it writes MARKER in the current folder.
with_code = st.one_of(hostile, st.sampled_from(CODE), st.sampled_from(CODE).map(lambda c: c * 3))


@contextmanager
def inside(folder: Path):
    """Run in ``folder`` (where a payload's MARKER would land)."""
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(cwd)


def no_marker(folder: Path) -> None:
    assert not list(folder.rglob("MARKER")), "a value ran as code"


# --- (a) Organization config values ----------------------------------------------------------

PLAIN_FLOW = """\
from metaflow import FlowSpec, step


class OrgValuesFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    OrgValuesFlow()
"""


def yaml_text(config: dict) -> str:
    """The config as a YAML file (PyYAML quotes and escapes what needs it)."""
    return yaml.safe_dump(config, allow_unicode=True, width=10**6)


def compile_with_config(tmp: Path, config: dict, flow_text: str = PLAIN_FLOW):
    path = tmp / "org" / "mfairflow.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml_text(config))
    with inside(tmp):
        return compile_flow("org_values_flow.py", tmp, "--config", str(path), flow_text=flow_text)


def image_ok(image: str) -> bool:
    return bool(image.strip())  # a blank image is an error (test_org)


free_text = st.fixed_dictionaries(
    {
        "image": no_nul(with_code).filter(image_ok),
        "annotation": with_code,
        "env": no_nul(with_code),  # a NUL in an env value is an error (test_org)
        "pool": no_nul(short_text).filter(pool_ok),
        "tag": no_nul(short_text).filter(lambda t: 1 <= len(t) <= 100),
    }
)
ORG_SAMPLE = {
    "image": "registry.example/{{ var.value.image }}:'\"$(id)`id`\n" + CODE[0],
    "annotation": EVERYTHING,
    "env": EVERYTHING.replace("\x00", "") + "".join(CODE),
    "pool": "pool {{ conn.x.password }} {% raw %}'\"\\\n$(id)",
    "tag": "{{ ds }}{% if 1 %}x{% endif %}'\"\\\r\n;$(id)",
}


def org_config(values: dict) -> dict:
    return {
        "image": values["image"],
        "annotations": {"example.com/note": values["annotation"], "example.com/code": CODE[0]},
        "env": {"HOSTILE": values["env"], "OTHER": CODE[1]},
        "pool": values["pool"],
        "tags": [values["tag"]],
    }


@settings(FUZZ, max_examples=EXAMPLES)
@example(values=ORG_SAMPLE)
@given(values=free_text)
def test_org_config_values_never_run_and_render_exactly(values):
    config = org_config(values)
    assume(yaml.safe_load(yaml_text(config)) == config)  # what YAML can carry at all
    with tempfile.TemporaryDirectory(prefix="mfairflow-org-") as folder:
        tmp = Path(folder)
        result = compile_with_config(tmp, config)
        assert result.proc.returncode == 0, result.proc.stderr[-3000:]
        with inside(tmp):
            dag = load_dag(result.dag_path)
        no_marker(tmp)
        assert values["tag"] in dag.tags
        kubeconfig = write_kubeconfig(tmp)
        for step, operator in pod_operators(dag).items():
            assert operator.pool == values["pool"], step
            manifest = pod_manifest(operator, kubeconfig)
            assert base_container(manifest)["image"] == values["image"], step
            annotations = manifest["metadata"]["annotations"]
            assert annotations["example.com/note"] == values["annotation"], step
            assert annotations["example.com/code"] == CODE[0], step
            env = env_of(manifest)
            assert (env["HOSTILE"], env["OTHER"]) == (values["env"], CODE[1]), step
        no_marker(tmp)


# Keys whose values Kubernetes restricts: anything else is a clean error naming the key.
RESTRICTED_KEYS = """namespace service_account label node_selector toleration_key toleration_value
toleration_seconds on_failure_callback retries""".split()
restricted = st.fixed_dictionaries(
    {
        "key": st.sampled_from(RESTRICTED_KEYS),
        "value": with_code,
    }
)


def restricted_config(key: str, value: str) -> dict:
    if key in ("namespace", "service_account", "on_failure_callback", "retries"):
        return {key: value}
    if key == "label":
        return {"labels": {"team": value}}
    if key == "node_selector":
        return {"node_selector": {"example.com/pool": value}}
    field = key.removeprefix("toleration_").replace("seconds", "toleration_seconds")
    toleration = {"key": "example.com/gpu", "operator": "Equal", "value": "yes", field: value}
    return {"tolerations": [toleration]}


@settings(FUZZ, max_examples=EXAMPLES)
@example(values={"key": "label", "value": "{{ var.value.x }}"})
@example(values={"key": "toleration_seconds", "value": CODE[0]})
@given(values=restricted)
def test_restricted_org_config_values_are_rejected_cleanly_or_kept(values):
    config = restricted_config(values["key"], values["value"])
    assume(yaml.safe_load(yaml_text(config)) == config)
    with tempfile.TemporaryDirectory(prefix="mfairflow-org-") as folder:
        tmp = Path(folder)
        result = compile_with_config(tmp, config)
        if result.proc.returncode != 0:
            assert_clean_rejection(result)
            assert "organization config" in result.proc.stderr, result.proc.stderr
            assert "mfairflow.yaml:" in result.proc.stderr, result.proc.stderr
        else:
            check_restricted(tmp, result, values["key"], values["value"])
        no_marker(tmp)


def check_restricted(tmp: Path, result, key: str, value: str) -> None:
    """An accepted restricted value reaches the pod (or the DAG file) exactly."""
    if key == "on_failure_callback":  # the scheduler imports it: only its import is checked
        module, function = value.rsplit(".", 1)
        assert f"from {module} import {function} as on_failure_callback" in result.source
        return
    with inside(tmp):
        dag = load_dag(result.dag_path)
    manifest = pod_manifest(pod_operators(dag)["start"], write_kubeconfig(tmp))
    spec, metadata = manifest["spec"], manifest["metadata"]
    if key.startswith("toleration_"):
        (toleration,) = spec["tolerations"]
        field = {"seconds": "tolerationSeconds"}.get(key[11:], key[11:])
        got = toleration[field]
        assert (got == int(value)) if field == "tolerationSeconds" else (got == value), got
        return
    got = {
        "namespace": metadata["namespace"],
        "service_account": spec.get("serviceAccountName"),
        "label": metadata["labels"].get("team"),
        "node_selector": (spec.get("nodeSelector") or {}).get("example.com/pool"),
        "retries": None,
    }[key]
    assert got == value, (key, got)


# --- (b) Step names and (c) docstrings ---------------------------------------------------------

# The DAG file's own names (constants, helpers, imports) and Airflow's template variables: a
# step may be called any of them.
COLLIDING = """dag dag_id flow_name flow_file production_token datastore_root metaflow run_id
retry_count task_id mapped_task_id step_options init_params setup common_env task_env
log_capture pod_labels pod_annotations image namespace code_package_url metaflow_run_id
step_commands step_script metaflow_step run_step pod_step flatten_splits follow_switch
run_if_chosen hashlib datetime timedelta pendulum param airflow2_param k8s secret
kubernetespodoperator pythonoperator ti task_instance params conf macros var conn ds ts
dag_run task run test_mode inlets outlets self cls none true false default_args
on_failure_callback print open exec eval import_ os sys json subprocess resume_options
resume_of task_prefix resume_key first_task_prefix""".split()
ascii_name = st.from_regex(r"[a-z][a-z0-9_]{0,30}", fullmatch=True)
long_name = st.integers(60, 300).map(lambda n: ("s" + "x" * n)[:n])
step_name = st.one_of(ascii_name, st.sampled_from(COLLIDING), long_name)
RESERVED = {"start", "end", "name", "next", "input", "index", "cmd"}  # Metaflow's
steps = st.lists(step_name.filter(lambda n: n not in RESERVED), min_size=1, max_size=6, unique=True)
docs = st.lists(with_code, min_size=8, max_size=8)


def chain_flow(names: list[str], flow_doc: str, step_docs: list[str]) -> str:
    """start → each named step → end, every step with its docstring."""
    chain = ["start", *names, "end"]
    lines = ["from metaflow import FlowSpec, step", "", "", "class StepNamesFlow(FlowSpec):"]
    lines.append(f"    {flow_doc!r}")
    for index, (name, after) in enumerate(zip(chain, [*chain[1:], None])):
        lines += ["", "    @step", f"    def {name}(self):", f"        {step_docs[index]!r}"]
        lines.append(f"        self.next(self.{after})" if after else "        pass")
    lines += ["", "", 'if __name__ == "__main__":', "    StepNamesFlow()", ""]
    return "\n".join(lines)


def shown_doc(doc: str):
    """A step's docstring as its task's doc_md (a newline after a trailing ".md", so that
    Airflow does not open it as a file: test_hostile's test_flow_docstring_ending_in_md)."""
    doc = expected_doc(doc)
    return doc + "\n" if doc and doc.rstrip().endswith(".md") else doc


def compile_steps(tmp: Path, text: str):
    with inside(tmp):
        return compile_flow("step_names_flow.py", tmp, flow_text=text)


AIRFLOW_TASK_ID_MAX = 250
NAMES_SAMPLE = ["dag", "metaflow", "run_step", "ti", "params", "s" + "x" * 249, "conf"]
DOCS_SAMPLE = [EVERYTHING, *CODE, '"""\n' + EVERYTHING + "\n'''", "{{ ds }}.md", "\\" * 99]


@settings(FUZZ, max_examples=EXAMPLES)
@example(names=NAMES_SAMPLE[:6], flow_doc=CODE[0] + EVERYTHING, step_docs=DOCS_SAMPLE)
@example(names=["s" + "x" * 250], flow_doc="", step_docs=DOCS_SAMPLE)
@example(
    names=["resume_options", "task_prefix", "resume_of", "dag_run"],
    flow_doc="",
    step_docs=DOCS_SAMPLE,
)
@given(
    names=steps, flow_doc=with_code.filter(lambda d: not d.strip().endswith(".md")), step_docs=docs
)
def test_step_names_and_docstrings_never_run_and_reach_the_dag_exactly(names, flow_doc, step_docs):
    with tempfile.TemporaryDirectory(prefix="mfairflow-steps-") as folder:
        tmp = Path(folder)
        result = compile_steps(tmp, chain_flow(names, flow_doc, step_docs))
        if any(len(name) > AIRFLOW_TASK_ID_MAX for name in names):
            assert_clean_rejection(result)
            assert "longer than Airflow's" in result.proc.stderr, result.proc.stderr
            no_marker(tmp)
            return
        assert result.proc.returncode == 0, result.proc.stderr[-3000:]
        with inside(tmp):
            dag = load_dag(result.dag_path)
        no_marker(tmp)
        chain = ["start", *names, "end"]
        assert sorted(dag.task_ids) == sorted(chain)
        shown = dag.doc_md if dag.doc_md is not None else dag.description
        assert (shown or "") == (expected_doc(flow_doc) or "").strip()
        operators = pod_operators(dag)
        kubeconfig = write_kubeconfig(tmp)
        for index, name in enumerate(chain):
            task = dag.get_task(name)
            assert task.doc_md == shown_doc(step_docs[index]), name
            if index:
                assert task.upstream_task_ids == {chain[index - 1]}, name
            words = words_of(
                base_container(pod_manifest(operators[name], kubeconfig))["command"][2]
            )
            at = words.index("step")
            assert words[at + 1] == name, words[at - 5 : at + 10]
            if index:  # the input path names the parent step by its name
                inputs = words[words.index("--input-paths") + 1]
                assert inputs.split("/")[1] == chain[index - 1], inputs
        no_marker(tmp)


unicode_name = st.from_regex(r"[^\W\d_][^\W]{0,8}", fullmatch=True)


def metaflow_accepts(name: str) -> bool:
    """Metaflow's own rule for step names (metaflow/lint.py check_step_names)."""
    return name.isascii() and name == name.lower() and not name.startswith("_")


@settings(FUZZ, max_examples=EXAMPLES)
@example(name="ﬁle")  # NFKC turns the ligature into "file": Python names the method "file"
@example(name="é_名")
@given(name=unicode_name.filter(lambda n: n.isidentifier()))
def test_unicode_step_names_compile_as_python_names_them_or_are_rejected(name):
    python_name = unicodedata.normalize("NFKC", name)
    assume(python_name not in RESERVED)
    with tempfile.TemporaryDirectory(prefix="mfairflow-steps-") as folder:
        tmp = Path(folder)
        result = compile_steps(tmp, chain_flow([name], "", [""] * 3))
        output = result.proc.stdout + result.proc.stderr
        assert "Traceback" not in output, output
        if metaflow_accepts(python_name):
            assert result.proc.returncode == 0, output[-3000:]
            assert python_name in load_dag(result.dag_path).task_ids
        else:
            assert result.proc.returncode != 0, output[-3000:]
            assert "has an invalid name" in output, output[-3000:]
            assert not result.dag_path.exists()


# --- Extended resources: only Kubernetes quantities (test_validation_limits), text rejected ----

RESOURCE_FLOW = """\
from metaflow import FlowSpec, kubernetes, step


class ResourceFlow(FlowSpec):
    @kubernetes(extended_resources={{"example.com/fpga": {amount!r}}})
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ResourceFlow()
"""
amounts = st.one_of(with_code, st.from_regex(r"[+-]?[0-9]{1,4}(\.[0-9]?)?([kMG]i?|m|e[0-9])?"))


@settings(FUZZ, max_examples=EXAMPLES)
@example(amount="{{ var.value.x }}")
@example(amount="2")
@given(amount=amounts)
def test_extended_resource_text_is_a_quantity_or_a_clean_error(amount):
    from mfairflow.kube_syntax import quantity_value

    quantity = quantity_value(amount.strip())
    whole = quantity is not None and quantity > 0 and quantity == quantity.to_integral_value()
    with tempfile.TemporaryDirectory(prefix="mfairflow-amount-") as folder:
        tmp = Path(folder)
        with inside(tmp):
            result = compile_flow(
                "resource_flow.py", tmp, flow_text=RESOURCE_FLOW.format(amount=amount)
            )
        if not whole:
            assert_clean_rejection(result)
            assert "extended_resources" in result.proc.stderr
            no_marker(tmp)
            return
        assert result.proc.returncode == 0, result.proc.stderr[-3000:]
        with inside(tmp):
            start = pod_operators(load_dag(result.dag_path))["start"]
        no_marker(tmp)
        assert start.container_resources.requests["example.com/fpga"] == amount.strip()
        assert start.container_resources.limits["example.com/fpga"] == amount.strip()
