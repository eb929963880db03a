from metaflow import FlowSpec, step


class WideNestedFlow(FlowSpec):
    """A nested foreach of 5 x 10 = 50 inner tasks, flattened into one mapped task."""

    @step
    def start(self):
        self.rows = list(range(5))
        self.next(self.row, foreach="rows")

    @step
    def row(self):
        self.cols = list(range(10))
        self.next(self.cell, foreach="cols")

    @step
    def cell(self):
        self.value = self.foreach_stack()[0][0] * 10 + self.input
        self.next(self.join_cols)

    @step
    def join_cols(self, inputs):
        self.values = [inp.value for inp in inputs]
        self.next(self.join_rows)

    @step
    def join_rows(self, inputs):
        self.grid = [inp.values for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(sum(r) for r in self.grid)


if __name__ == "__main__":
    WideNestedFlow()
