from metaflow import FlowSpec, Parameter, step


class NestedSwitchFlow(FlowSpec):
    """Switches in a case: one meets inside the case, the next one's cases end where the
    outer cases meet."""

    outer = Parameter("outer", default="deep")
    first = Parameter("first", default="x")
    second = Parameter("second", default="p")

    @step
    def start(self):
        self.route = self.outer
        self.next({"deep": self.inner, "flat": self.flat}, condition="route")

    @step
    def inner(self):
        self.route = self.first
        self.next({"x": self.x, "y": self.y}, condition="route")

    @step
    def x(self):
        self.path = ["x"]
        self.next(self.inner_merge)

    @step
    def y(self):
        self.path = ["y"]
        self.next(self.inner_merge)

    @step
    def inner_merge(self):
        self.route = self.second
        self.next({"p": self.p, "q": self.q}, condition="route")

    @step
    def p(self):
        self.path = [*self.path, "p"]
        self.next(self.merge)

    @step
    def q(self):
        self.path = [*self.path, "q"]
        self.next(self.merge)

    @step
    def flat(self):
        self.path = ["flat"]
        self.next(self.merge)

    @step
    def merge(self):
        self.final = "/".join(self.path)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NestedSwitchFlow()
