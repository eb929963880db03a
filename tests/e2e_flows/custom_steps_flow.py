from metaflow import FlowSpec, Parameter, step


class CustomStepsFlow(FlowSpec):
    """Start and end steps with custom names."""

    size = Parameter("size", default=4, type=int)

    @step(start=True)
    def begin(self):
        self.values = list(range(self.size))
        self.next(self.middle)

    @step
    def middle(self):
        self.total = sum(self.values)
        self.next(self.finish)

    @step(end=True)
    def finish(self):
        self.done = self.total * 2


if __name__ == "__main__":
    CustomStepsFlow()
