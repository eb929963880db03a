"""Time Airflow's own DagBag on a folder that holds one DAG file; print the result as JSON.

Runs inside the virtualenv whose Airflow is measured (2.x or 3.x), with the caller's
AIRFLOW_HOME. The first load imports Airflow, the providers and the kubernetes client (cold);
the next REPEATS loads re-execute only the DAG file (warm: DagBag imports the file anew each
time), which is what a DAG processor pays on every parse.

Usage: python parse_probe.py FOLDER [REPEATS] [--profile OUT.prof] [--gc-off]

--gc-off disables Python's cyclic garbage collector for the timed loads (a diagnostic: how much
of the parse time is the collector walking the objects the DAG file leaves behind).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import statistics
import sys
import time
import warnings


def _dagbag_class():
    try:  # Airflow 3
        from airflow.dag_processing.dagbag import DagBag

        return DagBag, {}
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag

        return DagBag, {"include_examples": False}


def main(argv: list[str]) -> int:
    args = list(argv[1:])
    profile_out = None
    gc_off = "--gc-off" in args
    if gc_off:
        args.remove("--gc-off")
    if "--profile" in args:
        i = args.index("--profile")
        profile_out = args[i + 1]
        del args[i : i + 2]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    folder = os.path.abspath(args[0])
    repeats = int(args[1]) if len(args) > 1 else 5
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", folder)
    os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "600")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    warnings.simplefilter("ignore")
    # Whatever Airflow prints goes to stderr: stdout carries the JSON line only.
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        t0 = time.perf_counter()
        import airflow

        dagbag, kwargs = _dagbag_class()
        import_s = time.perf_counter() - t0
        logging.disable(logging.CRITICAL)

        def load():
            start, cpu = time.perf_counter(), time.process_time()
            bag = dagbag(dag_folder=folder, **kwargs)
            return time.perf_counter() - start, time.process_time() - cpu, bag

        first_s, _, bag = load()
        if gc_off:
            gc.collect()
            gc.disable()
        warm, warm_cpu = [], []
        for _ in range(repeats):
            wall, cpu, _ = load()
            warm.append(wall)
            warm_cpu.append(cpu)
        if profile_out:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
            load()
            prof.disable()
            prof.dump_stats(profile_out)
        dags = list(bag.dags.values())
        report = {
            "airflow_version": airflow.__version__,
            "python": sys.version.split()[0],
            "gc_off": gc_off,
            "import_errors": {os.path.basename(k): str(v) for k, v in bag.import_errors.items()},
            "dags": len(dags),
            "tasks": sum(len(d.tasks) for d in dags),
            "import_airflow_s": import_s,
            "first_load_s": first_s,
            "warm_s": warm,
            "warm_median_s": statistics.median(warm) if warm else None,
            "warm_cpu_s": warm_cpu,
            "warm_cpu_median_s": statistics.median(warm_cpu) if warm_cpu else None,
        }
    finally:
        sys.stdout.flush()
        os.dup2(real_stdout, 1)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
