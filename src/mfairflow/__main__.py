"""`mfairflow` command: `templates export DIR` and `docs` (the template contract)."""

from __future__ import annotations

import argparse
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
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    raise SystemExit(main())
