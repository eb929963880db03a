from metaflow import FlowSpec, Parameter, step


class SwitchForeachFlow(FlowSpec):
    """A switch whose cases hold a foreach, a static split and a linear step; each case is
    joined before the cases meet."""

    mode = Parameter("mode", default="fan")
    width = Parameter("width", default=3)

    @step
    def start(self):
        self.route = self.mode
        self.items = list(range(self.width))
        self.next({"fan": self.fan, "pair": self.pair, "plain": self.plain}, condition="route")

    @step
    def fan(self):
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.value = self.input * self.input
        self.stack = self.foreach_stack()
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.result = [inp.value for inp in inputs]
        self.next(self.merge)

    @step
    def pair(self):
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = "left"
        self.next(self.pair_join)

    @step
    def right(self):
        self.side = "right"
        self.next(self.pair_join)

    @step
    def pair_join(self, inputs):
        self.result = sorted(inp.side for inp in inputs)
        self.next(self.merge)

    @step
    def plain(self):
        self.result = "plain"
        self.next(self.merge)

    @step
    def merge(self):
        self.final = repr(self.result)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SwitchForeachFlow()
