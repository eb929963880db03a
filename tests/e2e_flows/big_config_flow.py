"""A Config of about 300 KB: more than one string of a process environment or command line can
hold (Linux: 128 KiB), so it must reach the tasks another way."""

import hashlib

from metaflow import Config, FlowSpec, step

ROWS = 3400


def big_rows(ctx=None):
    """The config's value, computed at deploy time: rows with Jinja, shell and quotes in them."""
    rows = [f"row {i:05d} {{{{ 7*7 }}}} $(touch x) 'q' \"dq\" \\ " + "." * 40 for i in range(ROWS)]
    return {"rows": rows}


class BigConfigFlow(FlowSpec):
    """Every task reads the whole config."""

    big = Config("big", default_value=big_rows)

    @step
    def start(self):
        self.start_ok = list(self.big["rows"]) == big_rows()["rows"]
        self.next(self.end)

    @step
    def end(self):
        rows = list(self.big["rows"])
        self.count = len(rows)
        self.ok = self.start_ok and rows == big_rows()["rows"]
        self.digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()


if __name__ == "__main__":
    BigConfigFlow()
