from metaflow import FlowSpec, Parameter, step


class SwitchFlow(FlowSpec):
    """Route to one of two branches at run time."""

    mode = Parameter("mode", default="fast")

    @step
    def start(self):
        self.route = self.mode
        self.next({"fast": self.fast, "slow": self.slow}, condition="route")

    @step
    def fast(self):
        self.result = "went fast"
        self.next(self.merge)

    @step
    def slow(self):
        self.result = "went slow"
        self.next(self.slow2)

    @step
    def slow2(self):
        self.result += " twice"
        self.next(self.merge)

    @step
    def merge(self):
        self.final = self.result.upper()
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SwitchFlow()
