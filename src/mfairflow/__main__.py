"""`mfairflow` command: `templates export DIR`, `docs` (the template contract) and `airflow
up/down/status` (a local Airflow on 127.0.0.1)."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `mfairflow` console script."""
    parser = argparse.ArgumentParser(prog="mfairflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    templates = sub.add_parser("templates", help="work with the DAG templates")
    templates_sub = templates.add_subparsers(dest="action", required=True)
    export = templates_sub.add_parser("export", help="copy the packaged templates to DIR")
    export.add_argument("dir")
    docs = sub.add_parser("docs", help="print docs/templates.md (the template contract)")
    docs.add_argument("--output", "-o", default=None)
    local = sub.add_parser("airflow", help="a local Airflow for development and tests")
    local_sub = local.add_subparsers(dest="action", required=True)
    for action, text in (
        ("up", "start (or reuse) a local Airflow and print the exports a shell needs"),
        ("down", "stop the processes `up` started"),
        ("status", "say which processes run"),
    ):
        one = local_sub.add_parser(action, help=text)
        one.add_argument("--home", default=".airflow", help="Airflow home (default: .airflow)")
        if action == "up":
            one.add_argument("--port", type=int, default=8080, help="API port (default: 8080)")
            one.add_argument(
                "--database",
                choices=("sqlite", "postgres"),
                default=None,
                help="sqlite (a file in the home) or postgres (a PostgreSQL server with its data "
                "in the home); default: what the home has, else sqlite",
            )
            one.add_argument(
                "--parallelism",
                type=int,
                default=None,
                help="tasks at once (default: 4 per core, 4 to 32)",
            )
    args = parser.parse_args(argv)

    if args.command == "airflow":
        return _local_airflow(args)

    if args.command == "templates":
        from .render import template_dirs

        target = Path(args.dir)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            print(
                f"error: {target} is not empty (or not a folder)\nhint: export into a new folder",
                file=sys.stderr,
            )
            return 2
        shutil.copytree(template_dirs()[-1], target, dirs_exist_ok=True)
        print(f"Templates copied to {target}; pass it with --template-dir or template_dir:.")
        return 0
    from .template_docs import render_template_docs

    text = render_template_docs()
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _local_airflow(args: argparse.Namespace) -> int:
    """`mfairflow airflow up|down|status`: messages on stderr, exports on stdout."""
    from .errors import CompileError
    from .live import local_airflow

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        if args.action == "up":
            if args.parallelism is not None and args.parallelism < 1:
                raise CompileError(
                    f"--parallelism must be at least 1, not {args.parallelism}",
                    hint="the number of tasks Airflow runs at once",
                )
            instance = local_airflow.up(
                args.home,
                args.port,
                log=log,
                database=args.database,
                parallelism=args.parallelism,
            )
            log(
                f"Airflow {instance.major} ({instance.database}) answers at {instance.url} "
                "(user admin). The exports below hold its password; run "
                '`eval "$(mfairflow airflow up ...)"` to set them:'
            )
            for key, value in instance.exports().items():
                # Shell words: a home with spaces or $(...) stays one literal word for eval.
                print(f"export {key}={shlex.quote(value)}")
            return 0
        if args.action == "down":
            local_airflow.down(args.home, log=log)
            return 0
        processes = local_airflow.status(args.home)
        if not processes:
            print(f"No Airflow started by mfairflow under {args.home}.")
            return 1
        for name, pid in processes.items():
            print(f"{name}: {'running, pid ' + str(pid) if pid else 'stopped'}")
        print(f"database: {local_airflow.database(args.home)}")
        return 0 if all(processes.values()) else 1
    except CompileError as exc:
        print(exc.render(), file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
