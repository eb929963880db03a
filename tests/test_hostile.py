"""Hostile user strings reach the generated DAG exactly, and never run as code.

Every string a user controls (parameter default and help, ``--tag``, ``--name``,
``--namespace``, ``--worker-pool``, @environment values, docstrings, secret names, annotation
values, the S3 sensor's bucket_key) crosses Python source, Airflow's Jinja and bash on its way
to a step. Hypothesis builds such strings from quotes, backslashes, newlines, Jinja and shell
syntax, control characters, non-ASCII and long runs; each example compiles a flow in a
subprocess, loads the DAG with Airflow's DagBag in this process, renders the templated fields as
Airflow would (the task's own ``render_template_fields`` with the DAG's Jinja environment) and
compares what comes back with the input.

Set MFAIRFLOW_FUZZ_EXAMPLES to run more examples (each costs a compile, about 3 s).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import compile_flow
from dag_inspect import (
    base_container,
    env_of,
    load_dag,
    pod_manifest,
    pod_operators,
    render,
    serialized_round_trip,
    write_kubeconfig,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_e2e_local import Deployed, LocalAirflow

FUZZ = settings(
    derandomize=True,
    max_examples=int(os.environ.get("MFAIRFLOW_FUZZ_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces that break naive quoting somewhere between a flow and a pod.
NASTY = [
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "\\\\",
    '\\"',
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\x00",
    "\x01",
    "\x1b[31m",
    "\x7f",
    "\x0b",
    "\x0c",
    "\x85",
    "\u2028",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "#",
    "{{ ds }}",
    "{{ run_id }}",
    "{% raw %}",
    "{% endraw %}",
    "{{ '",
    '" }}',
    '{{ "\\x7b" }}',
    "$",
    "$(id)",
    "`id`",
    "${HOME}",
    '"$@"',
    ";",
    "&&",
    "|",
    "\\x7b",
    "\\u0041",
    "\\n",
    "%s",
    "{0}",
    "{}",
    "é",
    "ß",
    "中文",
    "😀",
    "\u200b",
    "\ufeff",
    " ",
    "-",
    "--tag",
    "=",
    ",",
    ".json",
    ".yaml",
    ".sh",
    "*",
    "~",
    "<b>",
]

pieces = st.one_of(st.sampled_from(NASTY), st.text(max_size=4))
short_text = st.lists(pieces, max_size=10).map("".join)
long_text = st.builds(
    lambda s, n: ((s or "{{ x }}") * n)[:10_000], short_text, st.integers(1, 3000)
)
hostile = st.one_of(short_text, short_text, short_text, long_text)


def no_nul(strategy):
    """Command-line arguments cannot carry NUL; neither can a process's environment."""
    return strategy.map(lambda s: s.replace("\x00", ""))


def tag_ok(tag: str) -> bool:
    return 1 <= len(tag) <= 100  # Airflow's DAG tag limit


def pool_ok(pool: str) -> bool:
    return bool(pool.strip()) and len(pool) <= 256  # Airflow's pool column


def doc_ok(doc: str) -> bool:
    """Known bug (test_flow_docstring_ending_in_md_loads): Airflow opens a doc_md ending in .md."""
    return not doc.strip().endswith(".md")


dns_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
dns_subdomain = st.lists(dns_label, min_size=1, max_size=3).map(".".join)

fields = st.fixed_dictionaries(
    {
        "default": no_nul(hostile),
        "help": no_nul(hostile),  # a NUL in a help text is an error (test_validation_limits)
        "tag": no_nul(short_text).filter(tag_ok),
        "namespace": no_nul(hostile).filter(bool),
        "pool": no_nul(short_text).filter(pool_ok),
        "env": no_nul(hostile),
        "flow_doc": hostile.filter(doc_ok),
        "step_doc": hostile,
        "annotation": hostile,
        "bucket_key": no_nul(short_text).map(lambda s: "s3://bucket/" + s),  # NUL: an error
        "secret": dns_subdomain,
    }
)

FLOW = """\
from metaflow import FlowSpec, Parameter, airflow_s3_key_sensor, environment, kubernetes, step


@airflow_s3_key_sensor(bucket_key={bucket_key!r})
class HostileFlow(FlowSpec):
    {flow_doc!r}

    text = Parameter("text", default={default!r}, help={help!r})

    @environment(vars={{"HOSTILE": {env!r}}})
    @kubernetes(secrets=[{secret!r}], annotations={{"example.com/note": {annotation!r}}})
    @step
    def start(self):
        {step_doc!r}
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    HostileFlow()
"""

# One of each kind, always run first (Hypothesis' explicit examples).
EVERYTHING = "".join(NASTY)
SAMPLE = {
    "default": EVERYTHING.replace("\x00", ""),
    "help": EVERYTHING.replace("\x00", ""),
    "tag": "'\"\\{{ ds }}{% x %}{# $(id) `id` ;\n\r\t中😀",
    "namespace": EVERYTHING.replace("\x00", ""),
    "pool": "pool {{ x }} '\"\\\n$(id)",
    "env": EVERYTHING.replace("\x00", "") + "\n",
    "flow_doc": EVERYTHING,
    "step_doc": '"""\n' + EVERYTHING + "\n'''",
    "annotation": EVERYTHING,
    "bucket_key": "s3://bucket/{{ ds }}/'\"\\\n*.json",
    "secret": "my-secret.v1",
}
LONG = {
    **SAMPLE,
    "default": ("{{ ds }}'\"\\\n" * 1000)[:10_000],
    "help": "{% raw %}\x01" * 1000,
    "namespace": "{# é #}" * 1000,
    "env": ("$(id) {{ run_id }}\r\n" * 600)[:10_000],
    "flow_doc": "\"\"\"'''\n{{ x }}\n" * 700,
    "step_doc": "\\" * 10_000,
    "annotation": "{{" * 5000,
}


def write_args(values: dict) -> list[str]:
    return [
        f"--tag={values['tag']}",
        f"--namespace={values['namespace']}",
        f"--worker-pool={values['pool']}",
    ]


def expected_doc(doc: str):
    """What Metaflow makes of a docstring (it deindents it), as the DAG should carry it."""
    from metaflow.graph import deindent_docstring

    return deindent_docstring(doc) or None


def words_of(script: str) -> list[str]:
    """The shell words and operators (`;`, `&&`, ...) bash would see in a rendered script."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def assert_clean_rejection(result) -> None:
    output = result.proc.stdout + result.proc.stderr
    assert result.proc.returncode == 2, output
    assert "error:" in output and "hint:" in output, output
    assert "Traceback" not in output, output
    assert not result.dag_path.exists()


def compile_text(tmp: Path, text: str, *args: str):
    return compile_flow("hostile_flow.py", tmp, *args, flow_text=text)


@FUZZ
@example(values=SAMPLE)
@example(values=LONG)
@given(values=fields)
def test_hostile_values_reach_the_dag_exactly(values):
    with tempfile.TemporaryDirectory(prefix="mfairflow-hostile-") as folder:
        tmp = Path(folder)
        result = compile_text(tmp, FLOW.format(**values), *write_args(values))
        assert result.proc.returncode == 0, result.proc.stderr[-3000:]
        dag = load_dag(result.dag_path)
        kubeconfig = write_kubeconfig(tmp)
        check_dag(dag, values, kubeconfig)


def check_dag(dag, values: dict, kubeconfig: Path) -> None:
    for view in (dag, serialized_round_trip(dag)):  # as parsed, and as the scheduler sees it
        param = view.params.get_param("text")
        assert param.value == values["default"]
        assert param.description == (values["help"] or None)
        assert values["tag"] in view.tags
        # The whole docstring is shown: as doc_md, or as the description when it is one line.
        shown = view.doc_md if view.doc_md is not None else view.description
        assert (shown or "") == (expected_doc(values["flow_doc"]) or "").strip()
        assert view.get_task("start").doc_md == expected_doc(values["step_doc"])
        for task in view.tasks:
            assert task.pool == values["pool"], task.task_id

    start = pod_manifest(pod_operators(dag)["start"], kubeconfig)
    env = env_of(start)
    assert env["HOSTILE"] == values["env"]
    assert env["METAFLOW_INIT_TEXT"] == values["default"]
    assert start["metadata"]["annotations"]["example.com/note"] == values["annotation"]
    base = base_container(start)
    assert [s["secretRef"]["name"] for s in base["envFrom"]] == [values["secret"]]
    words = words_of(base["command"][2])
    tag_at = [i for i, w in enumerate(words) if w == "--tag" and words[i + 1] == values["tag"]]
    assert len(tag_at) == 2, words[-40:]  # `init` and `step` both tag the run
    assert words.count(f"--namespace={values['namespace']}") == 1, words[-40:]

    sensor = render(dag.get_task("s3_key_sensor"), dag)
    assert sensor.bucket_key == values["bucket_key"]


# --- --name: a DAG id, or a clean error -----------------------------------------------------

VALID_DAG_ID = re.compile(r"[A-Za-z0-9_.-]{1,250}")
NAME_FLOW = textwrap.dedent("""\
    from metaflow import FlowSpec, step


    class NameFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        NameFlow()
    """)
names = st.one_of(
    st.from_regex(r"[A-Za-z0-9_.-]{1,40}", fullmatch=True),
    st.text(st.sampled_from("aZ09_.-"), min_size=240, max_size=260),
    no_nul(short_text).filter(bool),
)


@FUZZ
@given(name=names)
def test_dag_name_is_a_valid_dag_id_or_a_clean_error(name):
    with tempfile.TemporaryDirectory(prefix="mfairflow-name-") as folder:
        result = compile_text(Path(folder), NAME_FLOW, f"--name={name}")
        if VALID_DAG_ID.fullmatch(name):
            assert result.proc.returncode == 0, result.proc.stderr[-3000:]
            assert load_dag(result.dag_path).dag_id == name
        else:
            assert_clean_rejection(result)


# --- Values Airflow or Kubernetes cannot take: rejected cleanly ------------------------------

REJECTED = {
    "empty tag": ["--tag="],
    "tag longer than Airflow's 100 characters": ["--tag=" + "t" * 101],
    "blank worker pool": ["--worker-pool=   "],
}


@pytest.fixture(scope="module")
def rejected(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("rejected")

    def one(case):
        folder = tmp / f"case{list(REJECTED).index(case)}"
        return case, compile_text(folder, NAME_FLOW, *REJECTED[case])

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, REJECTED))


@pytest.mark.parametrize("case", list(REJECTED))
def test_values_airflow_cannot_take_are_rejected(rejected, case):
    assert_clean_rejection(rejected[case])


def test_dag_name_with_trailing_newline_is_rejected(tmp_path):
    assert_clean_rejection(compile_text(tmp_path, NAME_FLOW, "--name=my_dag\n"))


def test_worker_pool_longer_than_airflow_allows_is_rejected(tmp_path):
    assert_clean_rejection(compile_text(tmp_path, NAME_FLOW, "--worker-pool=" + "p" * 257))


def test_flow_docstring_ending_in_md_loads(tmp_path):
    doc = "Nightly scoring.\n\nSee the design notes in " + "x" * 300 + ".md"
    head = "class NameFlow(FlowSpec):\n"
    text = NAME_FLOW.replace(head, f"{head}    {doc!r}\n")
    result = compile_text(tmp_path, text)
    assert result.proc.returncode == 0, result.proc.stderr
    # A newline is appended so that Airflow does not open it as a file (the UI strips it).
    assert load_dag(result.dag_path).doc_md == doc + "\n"


def test_nul_in_environment_values_is_rejected(tmp_path):
    """A NUL cannot reach a process's environment: a clear error, not a pod that fails."""
    values = {**SAMPLE, "env": "a\x00b"}
    result = compile_text(tmp_path, FLOW.format(**values), *write_args(values))
    assert result.proc.returncode == 2, result.proc.stderr
    assert_clean_rejection(result)
    assert "contains a NUL character" in result.proc.stderr


# --- Code injection: a value never becomes code in the DAG file ------------------------------

PAYLOADS = [
    '"); open("MARKER", "w").write("x"); ("',
    "'''); open('MARKER', 'w').write('x'); ('''\n\"\"\"\nopen('MARKER', 'w').write('x')\n\"\"\"",
    '\\"); open("MARKER", "w").write("x")  # {{ \'\'.__class__ }}{% set m = open("MARKER") %}',
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injected_code_never_runs(tmp_path, monkeypatch, payload):
    values = {
        "default": payload,
        "help": payload,
        "tag": payload,
        "namespace": payload,
        "pool": payload,
        "env": payload,
        "flow_doc": payload,
        "step_doc": payload,
        "annotation": payload,
        "bucket_key": "s3://bucket/" + payload,
        "secret": "my-secret",
    }
    result = compile_text(tmp_path, FLOW.format(**values), *write_args(values))
    assert result.proc.returncode == 0, result.proc.stderr
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    check_dag(load_dag(result.dag_path), values, write_kubeconfig(tmp_path))
    assert not list(tmp_path.rglob("MARKER"))


def test_injected_code_in_a_secret_name_never_runs(tmp_path, monkeypatch):
    """Secret names must be DNS names; whether rejected or not, they never run."""
    text = FLOW.format(**{**SAMPLE, "secret": PAYLOADS[0]})
    result = compile_text(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    if result.proc.returncode != 2:
        load_dag(result.dag_path)
    assert not list(tmp_path.rglob("MARKER"))


# --- Local target: Jinja-looking values reach the step literally (issue requirement) ---------

LITERAL_DEFAULT = "{{ ds }} {{ params.text }} {% if true %}x{% endif %} {# c #} 'q' \"qq\" \\n\n"
LITERAL_ENV = "{{ run_id }}"
LITERAL_FLOW = f"""\
import os

from metaflow import FlowSpec, Parameter, environment, step


class LiteralFlow(FlowSpec):
    text = Parameter("text", default={LITERAL_DEFAULT!r})

    @environment(vars={{"LITERAL": {LITERAL_ENV!r}}})
    @step
    def start(self):
        self.text_seen = self.text
        self.env_seen = os.environ["LITERAL"]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LiteralFlow()
"""


@pytest.fixture
def short_dir():
    """A folder with a short path (a marker path must fit in a 100-character tag)."""
    with tempfile.TemporaryDirectory(prefix="m") as folder:
        yield Path(folder)


@pytest.mark.e2e
def test_local_dag_passes_jinja_looking_values_literally(tmp_path, short_dir):
    airflow = LocalAirflow(tmp_path / "airflow")
    flow_dir = airflow.home / "flows" / "literal_flow"
    flow_dir.mkdir(parents=True)
    (flow_dir / "literal_flow.py").write_text(LITERAL_FLOW)
    marker = short_dir / "M"
    tag = f"$(touch {marker}) `touch {marker}` {{{{ ds }}}}"
    dag_file = airflow.dags / "literal_flow_dag.py"
    proc = subprocess.run(
        [
            sys.executable,
            "literal_flow.py",
            "airflow",
            "create",
            str(dag_file),
            "--target",
            "local",
            f"--tag={tag}",
            f"--namespace=';touch {marker};'",
        ],
        cwd=flow_dir,
        env=airflow.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    token = re.search(r"production:(\S+)", proc.stdout + proc.stderr).group(1)
    deployed = Deployed(airflow, flow_dir, "literal_flow.py", dag_file, "LiteralFlow", token)
    code, log, _ = deployed.dags_test()
    assert code == 0, log[-5000:]
    run = deployed.probe()
    assert run["successful"], run
    start = run["steps"]["start"][0]["artifacts"]
    assert start["text_seen"] == repr(LITERAL_DEFAULT)
    assert start["env_seen"] == repr(LITERAL_ENV)
    assert tag in run["user_tags"]
    assert not marker.exists()


# --- Names, decorator arguments and Metaflow settings (issue 13, items 1 and 2) -------------
# The flow's class name, the S3 sensor's connection arguments, an extended resource and the
# Kubernetes connection and other Metaflow settings are flow-controlled too: none may run code
# when the scheduler parses the DAG, and every templated field renders back to exactly them.

CODE = [
    "\nopen('MARKER', 'w').write('x')\n",
    "\ropen('MARKER', 'w').write('x')\r",
    "\x0bopen('MARKER', 'w')\x0c\x1c\x85\u2028\u2029#",
    '"""\nopen("MARKER", "w")\n#',
]
# A flow name is an identifier (then it must compile) or is rejected cleanly (never run).
identifier = st.from_regex(r"[A-Za-z_\u00c0-\u024f\u4e00-\u4e2f][\w]{0,30}", fullmatch=True)
with_code = st.one_of(
    identifier.filter(str.isidentifier),
    st.sampled_from(CODE).map(lambda s: "Flow" + s),
    short_text.map(lambda s: "Flow" + s),
)
setting_text = no_nul(short_text).filter(lambda s: s.strip() not in ("", "None", "none"))

names = st.fixed_dictionaries(
    {
        "flow_name": no_nul(with_code),
        "aws_conn_id": no_nul(short_text),
        "verify": no_nul(short_text),
        # Only Kubernetes quantities are accepted (test_validation_limits); text is rejected
        # cleanly (test_hostile_config_and_names).
        "extended": st.one_of(st.integers(1, 2**63 - 1).map(str), st.sampled_from(["1k", "2Ki"])),
        "conn_id": setting_text,
        "context": setting_text,
        "config_file": setting_text,
        "setting": no_nul(short_text).map(lambda s: "{{ run_id" + s),
    }
)

NAMES_FLOW = """\
from metaflow import FlowSpec, airflow_s3_key_sensor, kubernetes, step


@airflow_s3_key_sensor(bucket_key="s3://b/k", aws_conn_id={aws_conn_id!r}, verify={verify!r})
class NamedFlow(FlowSpec):
    @kubernetes(extended_resources={{"example.com/fpga": {extended!r}}})
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


NamedFlow.__name__ = NamedFlow.__qualname__ = {flow_name!r}

if __name__ == "__main__":
    NamedFlow()
"""
NAMES_SAMPLE = {
    "flow_name": "Flowé_名",
    "aws_conn_id": "{{ conn.aws.password }}",
    "verify": "{{ var.value.verify }}",
    "extended": "3",
    "conn_id": "{{ conn.k8s.password }}",
    "context": "{% raw %}ctx{% endraw %}",
    "config_file": "{{ var.value.kube }}/config.yaml",
    "setting": "{{ run_id }}{{ conn.x.password }}",
}


def compile_named(tmp: Path, values: dict):
    env = {
        "METAFLOW_AIRFLOW_KUBERNETES_CONN_ID": values["conn_id"],
        "METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_CONTEXT": values["context"],
        "METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_FILE": values["config_file"],
        "METAFLOW_CARD_S3ROOT": values["setting"],
    }
    text = NAMES_FLOW.format(**values)
    return compile_flow("named_flow.py", tmp, "--name", "named", flow_text=text, env=env)


@settings(FUZZ, max_examples=int(os.environ.get("MFAIRFLOW_FUZZ_EXAMPLES", "4")))
@example(values=NAMES_SAMPLE)
@example(
    values={**NAMES_SAMPLE, "flow_name": "Flow" + "".join(CODE) + EVERYTHING.replace("\x00", "")}
)
@given(values=names)
def test_hostile_names_and_settings_never_run_and_render_exactly(values):
    with tempfile.TemporaryDirectory(prefix="mfairflow-names-") as folder:
        tmp = Path(folder)
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            result = compile_named(tmp, values)
        finally:
            os.chdir(cwd)
        if not values["flow_name"].isidentifier():
            assert_clean_rejection(result)
            assert "is not a Python identifier" in result.proc.stderr
            assert not list(tmp.rglob("MARKER"))
            return
        assert result.proc.returncode == 0, result.proc.stderr[-3000:]
        source = result.dag_path.read_text()
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            dag = load_dag(result.dag_path)
        finally:
            os.chdir(cwd)
        assert not list(tmp.rglob("MARKER"))
        check_named(dag, source, values, write_kubeconfig(tmp))


def check_named(dag, source: str, values: dict, kubeconfig: Path) -> None:
    import ast

    constants = {
        node.targets[0].id: node.value
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert ast.literal_eval(constants["FLOW_NAME"]) == values["flow_name"]
    start = pod_operators(dag)["start"]
    assert start.kubernetes_conn_id == values["conn_id"]
    assert start.cluster_context == values["context"]
    assert start.config_file == values["config_file"]
    assert start.container_resources.requests["example.com/fpga"] == values["extended"]
    assert start.container_resources.limits["example.com/fpga"] == values["extended"]
    start.kubernetes_conn_id = start.cluster_context = None  # no such cluster here
    manifest = pod_manifest(start, kubeconfig)
    assert env_of(manifest)["METAFLOW_CARD_S3ROOT"] == values["setting"]
    assert manifest["metadata"]["annotations"]["metaflow/flow_name"] == values["flow_name"]
    script = base_container(manifest)["command"][2]
    exports = script[script.index("export MF_PATHSPEC=") : script.index(" MF_ATTEMPT=")]
    (pathspec,) = shlex.split(exports.removeprefix("export "))
    assert pathspec.removeprefix("MF_PATHSPEC=").rsplit("/", 3)[0] == values["flow_name"]
    sensor = render(dag.get_task("s3_key_sensor"), dag)
    assert (sensor.aws_conn_id, sensor.verify) == (values["aws_conn_id"], values["verify"])


def test_hostile_settings_load_on_airflow2_and_run_nothing(tmp_path):
    """A smaller sample on Airflow 2.10: each payload of CODE in every setting and argument."""
    import json

    af2 = os.environ.get("MFAIRFLOW_AF2_PYTHON")
    assert af2, "MFAIRFLOW_AF2_PYTHON must name the Airflow 2.10 python (make install-af2)"
    af2 = os.path.abspath(af2)  # the probe runs in tmp_path
    folder = tmp_path / "af2-dags"
    folder.mkdir()
    for index, code in enumerate([*CODE, "{{ conn.x.password }}" + EVERYTHING.replace("\x00", "")]):
        values = {key: value + code for key, value in NAMES_SAMPLE.items() if key != "extended"}
        values["extended"] = NAMES_SAMPLE["extended"]
        values["flow_name"] = f"Flow{index}"
        result = compile_named(tmp_path / f"case{index}", values)
        assert result.proc.returncode == 0, result.proc.stderr[-3000:]
        (folder / f"named_{index}_dag.py").write_text(
            result.dag_path.read_text().replace('DAG_ID = "named"', f'DAG_ID = "named_{index}"')
        )
    probe = Path(__file__).parent / "airflow_probe.py"
    proc = subprocess.run(
        [af2, str(probe), str(folder)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["import_errors"] == {}
    assert len(report["dags"]) == len(CODE) + 1
    assert not list(tmp_path.rglob("MARKER"))
