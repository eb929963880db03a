"""The one exception type for user errors, carrying what, where and what to do instead."""

from __future__ import annotations

from typing import Optional


class CompileError(Exception):
    """A flow or an option that mfairflow cannot compile, with a hint on what to do instead.

    The CLI prints it as ``error: <message> (<file>:<line>, step <name>)`` followed by
    ``hint: <hint>`` and exits with status 2; no traceback is shown.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str,
        step: Optional[str] = None,
        location: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.step = step
        self.location = location

    def render(self) -> str:
        """The two-line message the CLI prints."""
        where = [part for part in (self.location, self.step and f"step {self.step}") if part]
        suffix = f" ({', '.join(where)})" if where else ""
        return f"error: {self.message}{suffix}\nhint: {self.hint}"

    def __str__(self) -> str:
        return self.render()
