"""Flow strings never become code in the DAG file, and Airflow renders them back exactly.

Issue 13, items 1 and 2: a flow's name once ended the header comment (code on every scheduler
parse), and flow strings in templated operator fields (the pod's MF_PATHSPEC, extended
resources, the S3 sensor's connection, the Kubernetes connection settings, Metaflow settings
that start like the DAG's own templates) reached Airflow's Jinja, which would read Airflow
variables and connection passwords into a pod or a log.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from conftest import compile_flow
from dag_inspect import (
    base_container,
    env_of,
    load_dag,
    pod_manifest,
    pod_operators,
    render,
    write_kubeconfig,
)

SECRET = "{{ conn.k.password }}"
EVIL_NAME = "EvilFlow\nopen('MARKER', 'w').write('x')\r#\x0bopen('MARKER', 'w')\u2028#"
# Every character that ends a line for Python's tokenizer (\n, \r) or for str.splitlines.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
NAME = "EvilFlowé_名"

EVIL_FLOW = """\
from metaflow import FlowSpec, airflow_s3_key_sensor, kubernetes, step


@airflow_s3_key_sensor(bucket_key="s3://b/k", aws_conn_id={secret!r}, verify={secret!r})
class EvilFlow(FlowSpec):
    # (extended_resources only take quantities now: a Jinja string there is a compile error,
    # tests/test_validation_limits.py)
    @kubernetes(extended_resources={{"example.com/fpga": "2"}})
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


EvilFlow.__name__ = EvilFlow.__qualname__ = {name!r}

if __name__ == "__main__":
    EvilFlow()
"""

KUBE_ENV = {
    "METAFLOW_AIRFLOW_KUBERNETES_CONN_ID": SECRET + "-id",
    "METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_CONTEXT": SECRET + "-context",
    "METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_FILE": SECRET + "-file",
    # Starts like the DAG's own template of the run id, and is not it.
    "METAFLOW_DATATOOLS_S3ROOT": "{{ run_id }}" + SECRET,
    "METAFLOW_SERVICE_URL": "{{ run_id }}",
}


def compile_evil(tmp: Path, name: str = NAME, env: dict | None = None):
    text = EVIL_FLOW.format(secret=SECRET, name=name)
    return compile_flow("evil_flow.py", tmp, "--name", "evil", flow_text=text, env=env)


def test_a_flow_name_that_is_not_an_identifier_is_rejected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = compile_evil(tmp_path, EVIL_NAME)
    output = result.proc.stdout + result.proc.stderr
    assert result.proc.returncode == 2, output
    assert "is not a Python identifier" in output and "hint:" in output
    assert "Traceback" not in output and not result.dag_path.exists()
    assert not list(tmp_path.rglob("MARKER"))


def test_the_header_writes_the_flow_name_as_a_literal_that_ends_no_comment():
    """Whatever the model holds, the header block is comments only (and names it exactly)."""
    import ast
    from types import SimpleNamespace

    from mfairflow.render import make_environment

    template = make_environment().get_template("dag.py.jinja")
    name = EVIL_NAME + LINE_BREAKS + "'\"\\{{ x }}"
    dag = SimpleNamespace(flow_name=name, generator="mfairflow\nimport os", target="kubernetes")
    header = "".join(template.blocks["header"](template.new_context({"dag": dag})))
    assert ast.parse(header).body == []  # nothing but comments for Python
    lines = header.splitlines()
    assert all(line.startswith("#") for line in lines) and len(lines) == 3
    assert all(not set(LINE_BREAKS) & set(line) for line in header.split("\n"))
    literal = lines[0].split("Metaflow flow ", 1)[1].rstrip(",")
    assert ast.literal_eval(literal) == name


def test_templated_fields_render_flow_strings_exactly(tmp_path):
    result = compile_evil(tmp_path, env=KUBE_ENV)
    assert result.proc.returncode == 0, result.proc.stderr[-3000:]
    dag = load_dag(result.dag_path)
    start = pod_operators(dag)["start"]
    assert start.kubernetes_conn_id == KUBE_ENV["METAFLOW_AIRFLOW_KUBERNETES_CONN_ID"]
    assert start.cluster_context == KUBE_ENV["METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_CONTEXT"]
    assert start.config_file == KUBE_ENV["METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_FILE"]
    assert start.container_resources.requests["example.com/fpga"] == "2"
    start.kubernetes_conn_id = start.cluster_context = None  # no such connection here
    manifest = pod_manifest(start, write_kubeconfig(tmp_path))
    env = env_of(manifest)
    assert env["METAFLOW_DATATOOLS_S3ROOT"] == KUBE_ENV["METAFLOW_DATATOOLS_S3ROOT"]
    assert env["METAFLOW_SERVICE_URL"] == "{{ run_id }}"
    assert env["METAFLOW_AIRFLOW_DAG_RUN_ID"] == "scheduled__2024-01-01T00:00:00+00:00"
    script = base_container(manifest)["command"][2]
    (export,) = [word for word in shlex.split(script) if word.startswith("MF_PATHSPEC=")]
    assert export.split("=", 1)[1].startswith(NAME + "/airflow-")
    sensor = render(dag.get_task("s3_key_sensor"), dag)
    assert (sensor.aws_conn_id, sensor.verify) == (SECRET, SECRET)


# --- Templates print model values only through a filter --------------------------------------

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
# Filters that turn a value into checked source: a Python literal, or a checked name.
APPROVED_FILTERS = {"py", "pydict", "ident", "idents", "dotted"}


def unfiltered_outputs(path: Path) -> list[str]:
    """Every `{{ ... }}` of a template that could print a value without an approved filter.

    Allowed besides a filtered expression: a constant (or a choice between constants, such as
    `{{ ", " if not loop.last }}`), and a call of a macro or of `super()` (whose own outputs
    are checked where they are defined).
    """
    from jinja2 import nodes

    from mfairflow.render import make_environment

    env = make_environment()
    tree = env.parse(path.read_text(), name=path.name)

    def allowed(expr) -> bool:
        if isinstance(expr, nodes.Filter):
            return expr.name in APPROVED_FILTERS
        if isinstance(expr, nodes.Const):
            return True
        if isinstance(expr, nodes.CondExpr):
            return allowed(expr.expr1) and (expr.expr2 is None or allowed(expr.expr2))
        if isinstance(expr, nodes.Call):
            macro_names = {m.name for m in tree.find_all(nodes.Macro)}
            imported = {i.target for i in tree.find_all((nodes.Import, nodes.FromImport))}
            target = expr.node
            if isinstance(target, nodes.Name):
                return target.name == "super" or target.name in macro_names
            return (
                isinstance(target, nodes.Getattr)
                and isinstance(target.node, nodes.Name)
                and (target.node.name in imported)
            )
        return False

    bad = []
    for output in tree.find_all(nodes.Output):
        for expr in output.nodes:
            if not isinstance(expr, nodes.TemplateData) and not allowed(expr):
                bad.append(f"{path.name}:{expr.lineno}: {expr}")
    return bad


def test_every_template_output_goes_through_a_filter():
    """The packaged templates, and the example organization's override."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    paths = sorted(TEMPLATES.rglob("*.jinja")) + sorted(examples.rglob("*.jinja"))
    assert len(paths) >= 6
    assert [bad for path in paths for bad in unfiltered_outputs(path)] == []


def test_the_output_check_finds_a_raw_value(tmp_path):
    path = tmp_path / "dag.py.jinja"
    path.write_text("# flow {{ dag.flow_name }}\nX = {{ dag.dag_id | py }}\n{{ dag.x | upper }}\n")
    assert len(unfiltered_outputs(path)) == 2
