from metaflow import FlowSpec, Parameter, step


class IfWithoutElseFlow(FlowSpec):
    """Switches whose second case goes straight to the step where the cases meet: at the top
    (the fan case fans out first) and inside a foreach body (each split chooses)."""

    choice = Parameter("choice", default="fan")
    kinds = Parameter("kinds", default="bump,keep,bump")

    @step
    def start(self):
        self.route = self.choice
        self.values = [1]
        self.next({"fan": self.prepare, "direct": self.finish}, condition="route")

    @step
    def prepare(self):
        self.items = [10, 20]
        self.next(self.scale, foreach="items")

    @step
    def scale(self):
        self.value = self.input * 2
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.values = [inp.value for inp in inputs]
        self.next(self.finish)

    @step
    def finish(self):
        self.total = sum(self.values)
        self.splits = self.kinds.split(",")
        self.next(self.body, foreach="splits")

    @step
    def body(self):
        self.kind = self.input
        self.label = f"{self.index}:{self.kind}"
        self.next({"bump": self.bump, "keep": self.meet}, condition="kind")

    @step
    def bump(self):
        self.label += "+bumped"
        self.next(self.meet)

    @step
    def meet(self):
        self.stack = self.foreach_stack()
        self.label = self.label.upper()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.labels = [inp.label for inp in inputs]
        self.total = inputs[0].total
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    IfWithoutElseFlow()
