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


def test_config_whose_parser_cannot_read_its_json_back_is_rejected(tmp_path):
    """Tasks get a Config as JSON text and run it through its parser again: a parser of
    `key=value` lines would turn {"a": "1"} into something else, so it is an error now rather
    than a different config in the tasks."""
    prelude = (
        PRELUDE + "\n\ndef kv_parser(text):\n"
        "    return dict(line.split('=', 1) for line in text.splitlines() if line)\n\n\n"
    )
    text = linear_flow(
        "KvConfigFlow",
        params=("kv = Config('kv', default_value='a=1', parser=kv_parser)",),
        prelude=prelude,
    )
    expect_user_error(
        tmp_path,
        "kv_config_flow",
        text,
        message="config 'kv' would not reach the tasks as it is: they read it back from its JSON "
        "text through its parser",
        at_class=True,
    )


def test_config_with_default_value_compiles_and_is_no_airflow_param(tmp_path):
    text = linear_flow(
        "DictConfigFlow",
        params=("cfg = Config('cfg', default_value={'a': 1})",),
        prelude=PRELUDE,
    )
    source = expect_compiles(tmp_path, "dict_config_flow", text)
    assert "params={}" in source
    assert '"METAFLOW_FLOW_CONFIG_VALUE": \'{"cfg":{"a":1}}\'' in source
