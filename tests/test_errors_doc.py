"""docs/errors.md lists every user-error message the code can raise."""

from __future__ import annotations

import ast

from conftest import ROOT

SOURCES = ROOT / "src" / "mfairflow"
DOC = (ROOT / "docs" / "errors.md").read_text()


def message_fragments():
    """The constant text of each CompileError / sensor fail() message, per call site."""
    for path in sorted(SOURCES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = getattr(node.func, "id", "")
            if name not in ("CompileError", "fail"):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.IfExp):
                arg = arg.body
            if isinstance(arg, ast.Constant):
                pieces = [arg.value]
            elif isinstance(arg, ast.JoinedStr):
                pieces = [v.value for v in arg.values if isinstance(v, ast.Constant)]
            else:
                continue
            pieces = [p.strip(" .(),:;'\"") for p in pieces if isinstance(p, str)]
            pieces = [p for p in pieces if len(p) >= 8]
            if pieces:
                yield f"{path.name}:{node.lineno}", max(pieces, key=len)


def test_every_error_message_is_in_the_catalogue():
    fragments = list(message_fragments())
    assert len(fragments) > 40
    missing = [(where, text) for where, text in fragments if text not in DOC]
    assert not missing, "add these messages to docs/errors.md:\n" + "\n".join(
        f"{where}: {text}" for where, text in missing
    )
