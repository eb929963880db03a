from metaflow import FlowSpec, Parameter, step


class SwitchToEndFlow(FlowSpec):
    """A switch whose two cases name the same step, then one whose empty case goes straight
    to the end step."""

    first = Parameter("first", default="a")
    then = Parameter("then", default="work")

    @step
    def start(self):
        self.route = self.first
        self.done = ["start"]
        self.next({"a": self.middle, "b": self.middle}, condition="route")

    @step
    def middle(self):
        self.route = self.then
        self.done = [*self.done, "middle"]
        self.next({"work": self.work, "skip": self.end}, condition="route")

    @step
    def work(self):
        self.done = [*self.done, "work"]
        self.next(self.end)

    @step
    def end(self):
        self.final = "/".join(self.done)


if __name__ == "__main__":
    SwitchToEndFlow()
