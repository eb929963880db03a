"""Write src/mfairflow/airflow_fields.py: which operator arguments Airflow renders with Jinja.

The compiler cannot import Airflow (it is not one of mfairflow's dependencies), so it reads a
checked-in table, and this script generates that table from the operators themselves: each
interpreter given (one per supported Airflow line) reports its operators' ``template_fields``
and which fields of the Kubernetes objects the pod operator renders inside them (found by
rendering an object whose every string field is a template); the table is the union.
tests/test_airflow_fields.py fails when an installed Airflow disagrees with it.

    python scripts/template_fields.py .venv/bin/python .venv-af2/bin/python
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "src" / "mfairflow" / "airflow_fields.py"

# Runs inside each interpreter: prints {"operators": {...}, "nested": {...}} as JSON.
PROBE = r"""
import json
import jinja2
import airflow
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from kubernetes.client import Configuration, models as k8s
try:
    from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
    from airflow.providers.standard.operators.python import BranchPythonOperator, PythonOperator
except ImportError:
    from airflow.sensors.external_task import ExternalTaskSensor
    from airflow.operators.python import BranchPythonOperator, PythonOperator

OPERATORS = (KubernetesPodOperator, S3KeySensor, ExternalTaskSensor, PythonOperator,
             BranchPythonOperator)
# The Kubernetes objects a generated DAG passes to the pod operator.
OBJECTS = ("V1EnvVar", "V1ResourceRequirements", "V1EnvFromSource", "V1SecretEnvSource",
           "V1Volume", "V1VolumeMount", "V1EmptyDirVolumeSource", "V1Toleration",
           "V1ContainerPort", "V1LocalObjectReference")
MARK = "{{ 'rendered' }}"

operators = {op.__name__: sorted(op.template_fields) for op in OPERATORS}
pod = KubernetesPodOperator(task_id="probe", image="x")
env = jinja2.Environment()
unchecked = Configuration()
unchecked.client_side_validation = False  # an object with only the probed field set
nested = {}
for name in OBJECTS:
    cls = getattr(k8s, name)
    fields = []
    for attr, kind in cls.openapi_types.items():
        if kind == "str":
            value = MARK
        elif kind == "dict(str, str)":
            value = {"key": MARK}
        else:
            continue
        obj = cls(local_vars_configuration=unchecked, **{attr: value})
        pod.render_template(obj, {}, env)
        if getattr(obj, attr) != value:
            fields.append(attr)
    if fields:
        nested[name] = sorted(fields)
print(json.dumps({"airflow": airflow.__version__, "operators": operators, "nested": nested}))
"""


def probe(python: str) -> dict:
    """What one interpreter's Airflow templates."""
    out = subprocess.run([python, "-c", PROBE], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def union(results: list[dict]) -> dict:
    """The fields templated by any of the probed Airflows, per operator and per object."""
    table: dict = {"operators": {}, "nested": {}}
    for result in results:
        for part in ("operators", "nested"):
            for name, fields in result[part].items():
                table[part].setdefault(name, set()).update(fields)
    return {part: {k: tuple(sorted(v)) for k, v in sorted(d.items())} for part, d in table.items()}


def render_table(table: dict, versions: list[str]) -> str:
    """The source of airflow_fields.py."""
    lines = [
        '"""Operator arguments that Airflow renders with Jinja (generated: do not edit).',
        "",
        "Written by scripts/template_fields.py from the template_fields of the operators of "
        "Airflow",
        ", ".join(versions) + "; tests/test_airflow_fields.py checks it against the installed "
        "ones.",
        '"""',
        "",
        "# Operator class name -> the arguments it renders (its template_fields).",
        "TEMPLATE_FIELDS = {",
    ]
    for name, fields in table["operators"].items():
        lines.append(f"    {name!r}: {fields!r},")
    lines += [
        "}",
        "",
        "# Kubernetes object class -> the fields the pod operator renders inside a templated "
        "argument.",
        "NESTED_TEMPLATE_FIELDS = {",
    ]
    for name, fields in table["nested"].items():
        lines.append(f"    {name!r}: {fields!r},")
    lines += ["}", ""]
    return "\n".join(lines)


def main(pythons: list[str]) -> None:
    """Probe each interpreter and write the union table."""
    import black

    results = [probe(python) for python in pythons]
    versions = sorted(result["airflow"] for result in results)
    text = black.format_str(render_table(union(results), versions), mode=black.Mode())
    TABLE.write_text(text)
    print(f"wrote {TABLE} (Airflow {', '.join(versions)})")


if __name__ == "__main__":
    main(sys.argv[1:] or [sys.executable])
