from metaflow import FlowSpec, Parameter, step


class NestedIfFlow(FlowSpec):
    """A switch with an empty case (straight to the meeting step) holding another switch with
    an empty case that ends where the outer cases meet."""

    outer = Parameter("outer", default="deep")
    inner = Parameter("inner", default="x")

    @step
    def start(self):
        self.route = self.outer
        self.path = ["start"]
        self.next({"deep": self.choose, "flat": self.merge}, condition="route")

    @step
    def choose(self):
        self.route = self.inner
        self.path = [*self.path, "choose"]
        self.next({"x": self.x, "y": self.merge}, condition="route")

    @step
    def x(self):
        self.path = [*self.path, "x"]
        self.next(self.merge)

    @step
    def merge(self):
        self.final = "/".join(self.path)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NestedIfFlow()
