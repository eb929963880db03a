from metaflow import FlowSpec, step


class BranchFlow(FlowSpec):
    """Two static branches that run in parallel and meet in a join."""

    @step
    def start(self):
        self.value = 1
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = self.value + 1
        self.next(self.join)

    @step
    def right(self):
        self.side = self.value * 10
        self.next(self.join)

    @step
    def join(self, inputs):
        self.sides = sorted(inp.side for inp in inputs)
        self.next(self.end)

    @step
    def end(self):
        print(f"Sides: {self.sides}")


if __name__ == "__main__":
    BranchFlow()
