from metaflow import FlowSpec, step


class ForeachStringsFlow(FlowSpec):
    """Foreach over strings, with a linear step after the join."""

    @step
    def start(self):
        self.words = ["alpha", "beta", "gamma", 'it\'s "quoted" {{ not jinja }}']
        self.next(self.shout, foreach="words")

    @step
    def shout(self):
        self.loud = self.input.upper()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.louds = [inp.loud for inp in inputs]
        self.next(self.summary)

    @step
    def summary(self):
        self.joined = "|".join(self.louds)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachStringsFlow()
