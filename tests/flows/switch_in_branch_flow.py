from metaflow import FlowSpec, Parameter, step


class SwitchInBranchFlow(FlowSpec):
    """A switch in one branch of a static split: its cases meet in the split's join, beside
    the other branch."""

    condition = Parameter("condition", default="case1")

    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.choice = self.condition
        self.next({"case1": self.c, "case2": self.d}, condition="choice")

    @step
    def b(self):
        self.data = "from_b"
        self.next(self.join)

    @step
    def c(self):
        self.data = "from_a_c"
        self.next(self.join)

    @step
    def d(self):
        self.data = "from_a_d"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.final_data = sorted(inp.data for inp in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SwitchInBranchFlow()
