from metaflow import FlowSpec, step


class NestedBranchFlow(FlowSpec):
    """start → (a → (a1, a2) → a_join, b) → join → end."""

    @step
    def start(self):
        self.seed = 3
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.a1, self.a2)

    @step
    def a1(self):
        self.v = self.seed + 1
        self.next(self.a_join)

    @step
    def a2(self):
        self.v = self.seed + 2
        self.next(self.a_join)

    @step
    def a_join(self, inputs):
        self.v = inputs.a1.v * 10 + inputs.a2.v
        self.next(self.join)

    @step
    def b(self):
        self.v = self.seed * 100
        self.next(self.join)

    @step
    def join(self, inputs):
        self.both = [inputs.a_join.v, inputs.b.v]
        self.next(self.end)

    @step
    def end(self):
        self.result = sum(self.both)


if __name__ == "__main__":
    NestedBranchFlow()
