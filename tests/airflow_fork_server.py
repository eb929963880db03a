"""Run `airflow ...` commands in processes forked from one warmed-up Airflow 3 process.

Usage: python airflow_fork_server.py   (in the environment of the Airflow home to use)

Each `airflow dags test` pays the same fixed start-up before its first task: importing Airflow
and its CLI (about 5 s of CPU) and building the in-process Execution API, whose first request
generates the routes of every API version (cadwyn; about 8 s of CPU). This process does that once,
then forks a child per request: the child runs Airflow's own CLI entry point
(`airflow.__main__.main`, what bin/airflow runs) with the request's arguments, its stdout and
stderr in the request's files, and exits with the command's exit status. Every run is a process
of its own, as with `airflow dags test`; only the work done before the fork is shared.

Protocol, one JSON object a line. Requests on stdin: {"argv": [...], "stdout": PATH,
"stderr": PATH, "timeout": SECONDS}. Replies on stdout: first {"ready": true, "warm": [...],
"cpu": SECONDS}, then {"code": N, "cpu": SECONDS} per request ({"code": null, "timeout": true}
when the child was killed; cpu counts the child and the step processes it waited for). The
server exits when stdin closes, so it never outlives the test process.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import traceback


def warm_up() -> list[str]:
    """Import and build what every `airflow dags test` builds first; what was warmed."""
    warmed = []
    import airflow.__main__  # noqa: F401 (configuration, settings, the CLI parser)
    from airflow.cli.commands import dag_command  # noqa: F401
    from airflow.configuration import write_default_airflow_configuration_if_needed

    # What main() does before every command: here once, before the first fork, so that the
    # configuration file exists and every child starts from the settings written to it.
    write_default_airflow_configuration_if_needed()
    warmed.append("cli")
    try:  # Airflow internals: if they move, the children simply build these themselves
        from airflow.sdk.execution_time import task_runner  # noqa: F401
        from airflow.sdk.execution_time.supervisor import in_process_api_server

        api = in_process_api_server()  # cached per process: the forked children reuse it
        api.app._cadwyn_initialize()  # the versioned routes, else built on the first request
        warmed.append("execution-api")
    except Exception:  # pragma: no cover (depends on the Airflow version)
        traceback.print_exc(file=sys.stderr)
    return warmed


def child(request: dict, reply) -> None:
    """In the forked process: run the Airflow CLI with the request's argv and files; exit."""
    reply.close()
    os.setpgid(0, 0)  # one group with the steps it starts: a timeout stops them all
    devnull = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    code = 1
    try:
        from airflow.__main__ import main

        sys.argv = ["airflow", *request["argv"]]
        try:  # what bin/airflow does: sys.exit(main())
            result = main()
            code = 0 if result is None else result
        except SystemExit as exc:
            code = exc.code
        if not isinstance(code, int):
            if code is not None:
                print(code, file=sys.stderr)
            code = 0 if code is None else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()  # as at the end of a normal process
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    # Replies go to a private copy of the stdout pipe; fd 1 itself (what sys.stdout and
    # Airflow's log handlers write to) becomes stderr here, and each child's stdout file there.
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    warmed = warm_up()
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu = round(own.ru_utime + own.ru_stime, 2)
    print(json.dumps({"ready": True, "warm": warmed, "cpu": cpu}), file=reply, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child(request, reply)
        deadline = time.monotonic() + request.get("timeout", 600)
        status = None
        while status is None:
            done, wait_status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                status = wait_status
            elif time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            else:
                time.sleep(0.05)
        if status is None:
            print(json.dumps({"code": None, "timeout": True}), file=reply, flush=True)
        else:
            cpu = usage.ru_utime + usage.ru_stime  # the child and the steps it waited for
            code = os.waitstatus_to_exitcode(status)
            print(json.dumps({"code": code, "cpu": round(cpu, 2)}), file=reply, flush=True)


if __name__ == "__main__":
    serve()
    sys.stderr.flush()
    os._exit(0)  # tearing down the warmed-up interpreter takes seconds and serves nothing
