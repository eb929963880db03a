from metaflow import FlowSpec, Parameter, step


class ForeachSwitchFlow(FlowSpec):
    """A switch inside a foreach body: every split chooses its own case."""

    width = Parameter("width", default=5)

    @step
    def start(self):
        self.numbers = list(range(self.width))
        self.next(self.per_number, foreach="numbers")

    @step
    def per_number(self):
        self.number = self.input
        self.parity = "even" if self.number % 2 == 0 else "odd"
        self.next({"even": self.even, "odd": self.odd}, condition="parity")

    @step
    def even(self):
        self.label = f"{self.number} is even"
        self.next(self.even_again)

    @step
    def even_again(self):
        self.label += " (twice)"
        self.next(self.merge)

    @step
    def odd(self):
        self.label = f"{self.number} is odd"
        self.next(self.merge)

    @step
    def merge(self):
        self.stack = self.foreach_stack()
        self.next(self.after)

    @step
    def after(self):
        self.label = self.label.upper()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.labels = [inp.label for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachSwitchFlow()
