from metaflow import FlowSpec, step


class BranchFlow(FlowSpec):
    """A static branch: start → (a, b) → join → end."""

    @step
    def start(self):
        self.base = 5
        self.next(self.a, self.b)

    @step
    def a(self):
        self.value = self.base + 1
        self.next(self.join)

    @step
    def b(self):
        self.value = self.base * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(inp.value for inp in inputs)
        self.from_a = inputs.a.value
        self.merge_artifacts(inputs, exclude=["value"])
        self.next(self.end)

    @step
    def end(self):
        self.result = sum(self.values) + self.base


if __name__ == "__main__":
    BranchFlow()
