from metaflow import FlowSpec, step


class FanFlow(FlowSpec):
    """A static branch, then a foreach: every kind of pod, each against the datastore."""

    @step
    def start(self):
        self.base = 10
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = self.base + 1
        self.next(self.meet)

    @step
    def right(self):
        self.side = self.base + 2
        self.next(self.meet)

    @step
    def meet(self, inputs):
        self.sides = sorted(inp.side for inp in inputs)
        self.next(self.fan)

    @step
    def fan(self):
        self.items = ["alpha", 'it\'s "quoted" {{ not jinja }}']
        self.next(self.shout, foreach="items")

    @step
    def shout(self):
        self.loud = self.input.upper()
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.result = {"sides": inputs[0].sides, "louds": [inp.loud for inp in inputs]}
        self.next(self.end)

    @step
    def end(self):
        print("result", self.result)


if __name__ == "__main__":
    FanFlow()
