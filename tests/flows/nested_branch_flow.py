from metaflow import FlowSpec, step


class NestedBranchFlow(FlowSpec):
    """A static branch inside a static branch: start → (a → (a1, a2) → join_a, b) → join."""

    @step
    def start(self):
        self.value = 2
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.a1, self.a2)

    @step
    def a1(self):
        self.part = self.value + 1
        self.next(self.join_a)

    @step
    def a2(self):
        self.part = self.value + 2
        self.next(self.join_a)

    @step
    def join_a(self, inputs):
        self.part = sum(inp.part for inp in inputs)
        self.next(self.join)

    @step
    def b(self):
        self.part = self.value * 100
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(inp.part for inp in inputs)
        self.next(self.end)

    @step
    def end(self):
        print(f"Total: {self.total}")


if __name__ == "__main__":
    NestedBranchFlow()
