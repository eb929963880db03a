"""Values Python accepts but Airflow cannot build, and values that were tracebacks (issue 13).

Each case once compiled with exit 0 into a DAG that Airflow refused to import (a timedelta that
overflows, an infinite sensor timeout, a cron expression croniter cannot split), silently lost a
value (two parameters sharing one environment variable, a NUL character), rejected a valid flow
(a Config with ``default_value=``), or crashed with a traceback. Now each is a user error with
the user-error contract of tests/test_validation.py (exit 2, ``error:``/``hint:``, the location,
the DAG file untouched); the largest values still accepted load on Airflow 3 and 2.10.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import compile_flow
from test_dagbag import AF2_ENV, PROBE, clean_probe_env
from test_validation import (
    OLD_DAG,
    expect_compiles,
    expect_user_error,
    linear_flow,
    listing,
    run_with_old_dag,
)

from mfairflow.analyzer.limits import MAX_SECONDS

PRELUDE = "from metaflow import Config, retry, timeout, resources\n"


# ---------------------------------------------------------------------------------------------
# 13.5: durations, numbers and cron expressions Airflow cannot build


@pytest.mark.parametrize(
    "decorator, message",
    [
        ("@timeout(seconds=10**15)", "@timeout must be a number of seconds from 1 to"),
        (f"@timeout(seconds={MAX_SECONDS + 1})", "@timeout must be a number of seconds from 1"),
        (
            "@retry(minutes_between_retries=10**13)",
            "@retry(minutes_between_retries=10000000000000) in seconds must be a number",
        ),
        (
            "@retry(minutes_between_retries=float('inf'))",
            "@retry(minutes_between_retries=inf) in seconds must be a number",
        ),
        (
            "@retry(minutes_between_retries='soon')",
            "@retry(minutes_between_retries='soon') in seconds must be a number",
        ),
    ],
    ids=["timeout-1e15", "timeout-max+1", "retry-delay-1e13", "retry-delay-inf", "retry-soon"],
)
def test_step_durations_out_of_range_are_rejected(tmp_path, decorator, message):
    text = linear_flow("DurationFlow", start_decos=(decorator,), prelude=PRELUDE)
    expect_user_error(tmp_path, "duration_flow", text, message=message, step="start")


def test_workflow_timeout_out_of_range_is_rejected(tmp_path):
    text = linear_flow("WorkflowTimeoutFlow", flow_decos=("@schedule(daily=True)",))
    expect_user_error(
        tmp_path,
        "workflow_timeout_flow",
        text,
        "--workflow-timeout",
        str(10**15),
        message=f"--workflow-timeout {10**15} is longer than {MAX_SECONDS} seconds",
    )


def test_max_workers_beyond_a_32_bit_column_is_rejected(tmp_path):
    text = linear_flow("ManyWorkersFlow")
    expect_user_error(
        tmp_path,
        "many_workers_flow",
        text,
        "--max-workers",
        str(2**40),
        message=f"--max-workers {2**40} is more than Airflow can store",
    )


@pytest.mark.parametrize(
    "argument, message",
    [
        ("poke_interval=float('inf')", "poke_interval=...) must be a number of seconds"),
        ("poke_interval=float('nan')", "poke_interval=...) must be a number of seconds"),
        ("timeout=float('inf')", "timeout=...) must be a number of seconds"),
        ("timeout=10**15", "timeout=...) must be a number of seconds from 0 to"),
    ],
    ids=["poke-inf", "poke-nan", "timeout-inf", "timeout-1e15"],
)
def test_sensor_durations_out_of_range_are_rejected(tmp_path, argument, message):
    text = linear_flow(
        "SensorDurationFlow",
        flow_decos=(f"@airflow_s3_key_sensor(bucket_key='s3://b/k', {argument})",),
    )
    expect_user_error(
        tmp_path,
        "sensor_duration_flow",
        text,
        message="@airflow_s3_key_sensor(" + message,
        at_class=True,
    )


def test_external_task_sensor_execution_delta_out_of_range_is_rejected(tmp_path):
    text = linear_flow(
        "DeltaFlow",
        flow_decos=(
            "@airflow_external_task_sensor(external_dag_id='up', "
            "execution_delta=timedelta(days=10**6))",
        ),
        prelude="from datetime import timedelta\n",
    )
    expect_user_error(
        tmp_path,
        "delta_flow",
        text,
        message="execution_delta 1000000 days, 0:00:00 is longer than",
        at_class=True,
    )


@pytest.mark.parametrize(
    "cron, problem",
    [
        ("0\u00a010 * * *", "4 fields instead of 5"),  # croniter splits on ASCII spaces only
        ("0 10 * *\u00a0*", "4 fields instead of 5"),
        ("0 10 * * *\u3000", "is not a number, range or */step"),
        ("0 0 31 2 *", "no month it names has that day"),  # imports, then never comes due
        ("0 0 30,31 FEB *", "no month it names has that day"),
    ],
    ids=["nbsp-inside", "nbsp-last-gap", "ideographic-space-end", "feb-31", "feb-30-31"],
)
def test_cron_that_croniter_cannot_use_is_rejected(tmp_path, cron, problem):
    text = linear_flow("CronSpaceFlow", flow_decos=(f"@schedule(cron={cron!r})",))
    error = expect_user_error(
        tmp_path,
        "cron_space_flow",
        text,
        message=f"@schedule(cron={cron!r}) is not a valid five-field cron expression",
        at_class=True,
    )
    assert problem in error


def test_the_cron_check_accepts_only_what_croniter_accepts():
    """Random expressions from the fields' pieces: whatever the check accepts, croniter (Airflow's
    cron parser on 2.x and 3.x) parses and finds a next date for."""
    from croniter import croniter

    from mfairflow.analyzer.schedule import _cron_problem, _never_due

    pieces = ["*", "*/7", "0", "5", "1-3", "3-1", "59", "60", "24", "31", "32", "12", "13", "7"]
    pieces += ["8", "JAN", "feb-Mar", "MON-FRI", "SUN", "0/15", "1,2", "2-30/4", "x", ""]
    rng = random.Random(13)
    accepted = 0
    for _ in range(3000):
        fields = [rng.choice(pieces) for _ in range(5)]
        if _cron_problem(fields) or _never_due(fields):
            continue
        accepted += 1
        expression = " ".join(fields)
        cron = croniter(expression)
        assert len(cron.expanded) == 5, expression
        cron.get_next()
    assert accepted > 100


@pytest.mark.parametrize(
    "decorator, message",
    [
        ("@kubernetes(memory=float('inf'))", "@kubernetes(memory=inf) must be a positive number"),
        ("@kubernetes(disk=float('inf'))", "@kubernetes(disk=inf) must be a positive number"),
    ],
    ids=["memory-inf", "disk-inf"],
)
def test_pod_numbers_that_are_not_finite_are_rejected(tmp_path, decorator, message):
    text = linear_flow("PodNumberFlow", start_decos=(decorator,))
    expect_user_error(tmp_path, "pod_number_flow", text, message=message, step="start")


def test_small_pod_quantities_are_written_without_an_exponent(tmp_path):
    """repr(1e-05) is '1e-05', and '1e-05M' is no Kubernetes quantity."""
    text = linear_flow("TinyFlow", start_decos=("@kubernetes(cpu=0.00001, memory=0.5)",))
    source = expect_compiles(tmp_path, "tiny_flow", text)
    assert '"cpu": "0.00001"' in source
    assert '"memory": "0.5M"' in source
    assert "e-0" not in source


# ---------------------------------------------------------------------------------------------
# The largest values still accepted load on Airflow 3 and 2.10

LIMIT_FLOW = linear_flow(
    "LimitFlow",
    flow_decos=(
        f"@airflow_s3_key_sensor(bucket_key='s3://b/k', timeout={MAX_SECONDS}, "
        f"poke_interval={MAX_SECONDS})",
        "@airflow_external_task_sensor(external_dag_id='up', "
        f"execution_delta=timedelta(seconds={MAX_SECONDS}))",
        "@schedule(cron='0 0 29 2 *')",
    ),
    start_decos=(
        f"@timeout(seconds={MAX_SECONDS})",
        f"@retry(times=4, minutes_between_retries={MAX_SECONDS // 60})",
        "@kubernetes(cpu=0.00001)",
    ),
    prelude=PRELUDE + "from datetime import timedelta\n",
)


@pytest.fixture(scope="module")
def limit_reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits")
    compiled = compile_flow(
        Path("limit_flow.py"),
        tmp,
        "--workflow-timeout",
        str(MAX_SECONDS),
        "--max-workers",
        str(2**31 - 1),
        flow_text=LIMIT_FLOW,
    )
    assert compiled.proc.returncode == 0, compiled.proc.stderr
    reports = {}
    for version, python in (("airflow3", sys.executable), ("airflow2", os.environ.get(AF2_ENV))):
        assert python, f"{AF2_ENV} must name the python of .venv-af2 (make install-af2)"
        proc = subprocess.run(
            [python, str(PROBE), str(compiled.dag_path.parent)],
            capture_output=True,
            text=True,
            env=clean_probe_env(),
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        reports[version] = json.loads(proc.stdout)
    return reports


@pytest.mark.parametrize("version", ("airflow3", "airflow2"))
def test_the_largest_accepted_values_load_in_airflow(limit_reports, version):
    report = limit_reports[version]
    assert report["import_errors"] == {}
    dag = report["dags"]["LimitFlow"]
    assert dag["dagrun_timeout_seconds"] == MAX_SECONDS
    assert dag["max_active_tasks"] == 2**31 - 1
    start = dag["tasks"]["start"]
    assert start["execution_timeout_seconds"] == MAX_SECONDS
    assert start["retry_delay_seconds"] == MAX_SECONDS // 60 * 60
    sensor = dag["tasks"]["s3_key_sensor"]
    assert sensor["timeout"] == MAX_SECONDS and sensor["poke_interval"] == MAX_SECONDS
    assert dag["tasks"]["external_task_sensor"]["execution_delta_seconds"] == MAX_SECONDS


# ---------------------------------------------------------------------------------------------
# 13.6 and 13.7: parameters that would lose a value


@pytest.mark.parametrize(
    "first, second",
    [("alpha-beta", "alpha_beta"), ("alpha_beta", "Alpha-Beta")],
    ids=["dash-underscore", "dash-and-case"],
)
def test_parameters_sharing_one_environment_variable_are_rejected(tmp_path, first, second):
    text = linear_flow(
        "SharedEnvFlow",
        params=(f"a = Parameter({first!r}, default=1)", f"b = Parameter({second!r}, default=2)"),
    )
    expect_user_error(
        tmp_path,
        "shared_env_flow",
        text,
        message=f"parameters {first!r} and {second!r} would share the environment variable "
        "METAFLOW_INIT_ALPHA_BETA",
        at_class=True,
    )


@pytest.mark.parametrize(
    "param, message",
    [
        ("Parameter('p', default='a\\0b')", "the default of parameter 'p' contains a NUL"),
        (
            "Parameter('p', default='{\"k\": [\"a\\\\u0000\"]}', type=JSONType)",
            "the default of parameter 'p' contains a NUL",
        ),
        (
            "Parameter('p', default={'k\\0': 1}, type=JSONType)",
            "the default of parameter 'p' contains a NUL",
        ),
        ("Parameter('p', default='x', help='a\\0b')", "the help text of parameter 'p' contains"),
    ],
    ids=["str", "nested-json-text", "json-key", "help"],
)
def test_nul_in_a_parameter_is_rejected(tmp_path, param, message):
    text = linear_flow(
        "NulParamFlow", params=(f"p = {param}",), prelude="from metaflow import JSONType\n"
    )
    expect_user_error(tmp_path, "nul_param_flow", text, message=message, at_class=True)


# ---------------------------------------------------------------------------------------------
# 13.9: tracebacks that are now clear errors


@pytest.mark.parametrize("seconds", ["'soon'", "1.5", "True"], ids=["text", "fraction", "boolean"])
def test_toleration_seconds_that_is_not_a_whole_number_is_rejected(tmp_path, seconds):
    toleration = f"{{'key': 'a', 'operator': 'Exists', 'toleration_seconds': {seconds}}}"
    text = linear_flow("TolerationFlow", start_decos=(f"@kubernetes(tolerations=[{toleration}])",))
    expect_user_error(
        tmp_path,
        "toleration_flow",
        text,
        message="has a toleration_seconds that is not a whole number of seconds",
        step="start",
    )


@pytest.mark.parametrize(
    "argument, message",
    [
        ("external_task_ids={'a', 'b'}", "external_task_ids must be a string or a list of strings"),
        ("external_dag_id=b'up'", "external_dag_id must be a string, not bytes"),
        ("check_existence='yes'", "check_existence must be True or False, not str"),
    ],
    ids=["set-ids", "bytes-dag-id", "text-bool"],
)
def test_sensor_argument_of_the_wrong_type_is_rejected(tmp_path, argument, message):
    dag_id = "" if "external_dag_id" in argument else "external_dag_id='up', "
    text = linear_flow(
        "SensorTypeFlow", flow_decos=(f"@airflow_external_task_sensor({dag_id}{argument})",)
    )
    expect_user_error(
        tmp_path,
        "sensor_type_flow",
        text,
        message=f"@airflow_external_task_sensor: {message}",
        at_class=True,
    )


def test_s3_sensor_bucket_key_of_bytes_is_rejected(tmp_path):
    text = linear_flow(
        "BytesKeyFlow", flow_decos=("@airflow_s3_key_sensor(bucket_key=b's3://b/k')",)
    )
    expect_user_error(
        tmp_path,
        "bytes_key_flow",
        text,
        message="@airflow_s3_key_sensor: bucket_key must be a string or a list of strings",
        at_class=True,
    )


@pytest.mark.parametrize("root", ['s3://bucket/a"b', "s3://bucket/a b", "s3://bucket/$HOME"])
def test_datastore_root_the_bootstrap_cannot_carry_is_rejected(tmp_path, root):
    text = linear_flow("RootFlow")
    expect_user_error(
        tmp_path,
        "root_flow",
        text,
        message=f"the datastore root {root!r} contains",
        env={"METAFLOW_DATASTORE_SYSROOT_S3": root},
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_py_in_the_dag_folder_does_not_hang_the_dag_id_scan(tmp_path):
    """The clash scan opened every *.py file of the DAG folder; opening a FIFO waits for a
    writer forever. Now non-regular files are skipped (compile_flow times out after 300 s; this
    needs about 3)."""
    dags = tmp_path / "dags"
    dags.mkdir()
    os.mkfifo(dags / "pipe.py")
    os.symlink("/dev/zero", dags / "zero.py")
    os.symlink(dags / "loop.py", dags / "loop.py")
    text = linear_flow("FifoFlow")
    result, before = run_with_old_dag(tmp_path, "fifo_flow", text)
    assert result.proc.returncode == 0, result.proc.stderr
    assert result.dag_path.read_text() != OLD_DAG
    assert sorted(listing(dags)) == sorted(before)


# ---------------------------------------------------------------------------------------------
# 13.8: a Config that a task would not read back as the same value


KV_PARSER = (
    "\n\ndef kv_parser(text):\n"
    "    return dict(line.split('=', 1) for line in text.splitlines() if line)\n\n\n"
)


def test_config_whose_parser_cannot_read_json_compiles(tmp_path):
    """The tasks take the parsed value (``kv.<name>``, as on Argo Workflows) and never run
    the parser again, so a parser of `key=value` lines that cannot read JSON is fine."""
    text = linear_flow(
        "KvConfigFlow",
        params=("kv = Config('kv', default_value='a=1', parser=kv_parser)",),
        prelude=PRELUDE + KV_PARSER,
    )
    source = expect_compiles(tmp_path, "kv_config_flow", text)
    assert '"METAFLOW_FLOW_CONFIG_VALUE": \'{"kv":"kv.kv"}\'' in source
    # The pods read the values from the code package's CONFIG file (as on Argo Workflows),
    # never from their environment or command line.
    assert "--local-config-file" not in source and '"a":"1"' not in source
    source = expect_compiles(tmp_path, "kv_config_flow", text, "--target", "local")
    assert '"METAFLOW_FLOW_CONFIG_VALUE": \'{"kv":"kv.kv"}\'' in source
    assert 'FLOW_CONFIGS = \'{"user_configs":{"kv":[{"a":"1"},false]}}\'' in source
    assert '--local-config-file="$MFAIRFLOW_TMP/configs.json"' in source


def test_config_whose_parser_returns_no_json_data_is_rejected(tmp_path):
    """A parsed value travels to the tasks as JSON (Metaflow's own config file): a value
    that JSON would change (here integer keys, which come back as strings) is an error."""
    prelude = PRELUDE + "\n\ndef int_keys(text):\n    return {1: text}\n\n\n"
    text = linear_flow(
        "IntKeysConfigFlow",
        params=("cfg = Config('cfg', default_value='x', parser=int_keys)",),
        prelude=prelude,
    )
    expect_user_error(
        tmp_path,
        "int_keys_config_flow",
        text,
        message="config 'cfg' has a value that is not JSON data (it reads back as {'1': 'x'})",
        at_class=True,
    )


def test_config_with_default_value_compiles_and_is_no_airflow_param(tmp_path):
    text = linear_flow(
        "DictConfigFlow",
        params=("cfg = Config('cfg', default_value={'a': 1})",),
        prelude=PRELUDE,
    )
    source = expect_compiles(tmp_path, "dict_config_flow", text, "--target", "local")
    assert "params={}" in source
    assert '"METAFLOW_FLOW_CONFIG_VALUE": \'{"cfg":"kv.cfg"}\'' in source
    assert 'FLOW_CONFIGS = \'{"user_configs":{"cfg":[{"a":1},false]}}\'' in source


# ---------------------------------------------------------------------------------------------
# @kubernetes(gpu=...) and extended_resources: amounts Kubernetes (and Metaflow's pod) can take

FPGA = "example.com/fpga"
BAD_AMOUNTS = {
    "gpu-negative": ("gpu=-1", "@kubernetes(gpu=-1) must be a whole number of GPUs"),
    "gpu-bool": ("gpu=True", "@kubernetes(gpu=True) must be a whole number of GPUs"),
    "gpu-fraction": ("gpu=1.5", "@kubernetes(gpu=1.5) must be a whole number of GPUs"),
    "gpu-float": ("gpu=2.0", "@kubernetes(gpu=2.0) must be a whole number"),  # Metaflow: int
    "gpu-inf": ("gpu=float('inf')", "@kubernetes(gpu=inf) must be a whole number"),
    "gpu-nan-text": ("gpu='nan'", "@kubernetes(gpu='nan') must be a whole number"),
    "gpu-huge": ("gpu=2**63", "must be a whole number of GPUs from 0 to 9223372036854775807"),
    "gpu-text": ("gpu='lots'", "@kubernetes(gpu='lots') must be a whole number"),
    "extended-negative": (f"extended_resources={{{FPGA!r}: -1}}", "whole, positive Kubernetes"),
    "extended-zero": (f"extended_resources={{{FPGA!r}: 0}}", "whole, positive Kubernetes"),
    "extended-fraction": (f"extended_resources={{{FPGA!r}: '500m'}}", "whole, positive"),
    "extended-bool": (f"extended_resources={{{FPGA!r}: True}}", "whole, positive Kubernetes"),
    "extended-nan": (f"extended_resources={{{FPGA!r}: float('nan')}}", "whole, positive"),
    "extended-inf": (f"extended_resources={{{FPGA!r}: float('inf')}}", "whole, positive"),
    "extended-huge": (f"extended_resources={{{FPGA!r}: '10E'}}", "of at most 92233720368547"),
    "extended-text": (f"extended_resources={{{FPGA!r}: '2 fpgas'}}", "whole, positive"),
    "extended-jinja": (f"extended_resources={{{FPGA!r}: '{{{{ var.value.x }}}}'}}", "whole"),
    "extended-list": (f"extended_resources={{{FPGA!r}: [1]}}", "whole, positive Kubernetes"),
    "extended-name": ("extended_resources={'fpga': 1}", "'fpga', which is not an extended"),
    "extended-native": (
        "extended_resources={'kubernetes.io/cpu': 1}",
        "'kubernetes.io/cpu', which is not an extended resource name",
    ),
}


@pytest.fixture(scope="module")
def bad_amounts(tmp_path_factory) -> dict:
    """Every case of BAD_AMOUNTS compiled (three at a time): case → error line or exception."""
    from concurrent.futures import ThreadPoolExecutor

    tmp = tmp_path_factory.mktemp("amounts")

    def one(case: str):
        argument, message = BAD_AMOUNTS[case]
        text = linear_flow("AmountFlow", start_decos=(f"@kubernetes({argument})",))
        try:
            folder = tmp / case
            folder.mkdir()
            return case, expect_user_error(
                folder, "amount_flow", text, message=message, step="start"
            )
        except AssertionError as exc:
            return case, exc

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, BAD_AMOUNTS))


@pytest.mark.parametrize("case", list(BAD_AMOUNTS))
def test_gpu_and_extended_resources_out_of_range_are_rejected(bad_amounts, case):
    result = bad_amounts[case]
    if isinstance(result, AssertionError):
        raise result
    assert "error: " in result


def test_resources_gpu_is_checked_like_kubernetes_gpu(tmp_path):
    """@resources(gpu=...) reaches the pod too (a step without @kubernetes, or beside it)."""
    text = linear_flow("ResourcesGpuFlow", start_decos=("@resources(gpu=-2)",), prelude=PRELUDE)
    expect_user_error(
        tmp_path, "resources_gpu_flow", text, message="@kubernetes(gpu=-2)", step="start"
    )


# Strings of Kubernetes' quantity grammar and strings outside it (apimachinery's quantity.go).
QUANTITIES = ["1", "+2", "-3", "1.", ".5", "0.25", "500m", "7n", "3u", "1k", "1Ki", "5Gi", "1E"]
QUANTITIES += ["1e3", "2E-1", "1E+2", "12Pi"]
NOT_QUANTITIES = ["", ".", "1 ", " 1", "1e", "1ki", "1K", "Gi", "1Gb", "inf", "NaN", "0x10"]
NOT_QUANTITIES += ["1_000", "1,5", "--1", "1.2.3", "1e1.5", "1ee3", "e3", "{{ x }}", "\u0661"]


def test_the_quantity_grammar_is_kubernetes_own():
    from decimal import Decimal

    from kubernetes.utils.quantity import parse_quantity

    from mfairflow.kube_syntax import quantity_value

    for text in QUANTITIES:  # and the Kubernetes client reads the same amount from them
        assert quantity_value(text) == parse_quantity(text), text
    for text in NOT_QUANTITIES:
        assert quantity_value(text) is None, text
    assert quantity_value("1E") == Decimal(10) ** 18  # the suffix E (exa), not an exponent


def test_valid_gpu_and_extended_resources_make_a_valid_pod(tmp_path):
    from dag_inspect import load_dag, pod_manifest, pod_operators, write_kubeconfig
    from test_pod_specs import validate_pod

    amounts = {FPGA: "1k", "acme.io/x": 2, "example.com/y": "1Ki", "example.com/z": "2e3"}
    amounts.update({"example.com/w": 3.0, "example.com/v": "+4", "example.com/huge": 2**63 - 1})
    decorator = f"@kubernetes(gpu='2', extended_resources={amounts!r})"
    text = linear_flow("AmountFlow", start_decos=(decorator,))
    result = compile_flow("amount_flow.py", tmp_path, flow_text=text)
    assert result.proc.returncode == 0, result.proc.stderr[-3000:]
    manifest = pod_manifest(
        pod_operators(load_dag(result.dag_path))["start"], write_kubeconfig(tmp_path)
    )
    validate_pod(manifest)
    (container,) = [c for c in manifest["spec"]["containers"] if c["name"] == "base"]
    expected = {name: str(amount) for name, amount in amounts.items()}
    for kind in ("requests", "limits"):
        assert {k: v for k, v in container["resources"][kind].items() if "/" in k} == {
            **expected,
            **({"nvidia.com/gpu": "2"} if kind == "limits" else {}),
        }
