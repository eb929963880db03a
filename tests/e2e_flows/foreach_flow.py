from metaflow import FlowSpec, step


class ForeachFlow(FlowSpec):
    """Foreach over ten numbers; the join sees all ten in order."""

    @step
    def start(self):
        self.items = list(range(10))
        self.next(self.process, foreach="items")

    @step
    def process(self):
        self.result = self.input * 2
        self.position = self.index
        self.next(self.join)

    @step
    def join(self, inputs):
        self.results = [inp.result for inp in inputs]
        self.positions = [inp.position for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        self.count = len(self.results)


if __name__ == "__main__":
    ForeachFlow()
