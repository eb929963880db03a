from metaflow import FlowSpec, step


class MultiBodyFlow(FlowSpec):
    """A foreach whose body is three steps long."""

    @step
    def start(self):
        self.items = ["a", "b", "c", "d"]
        self.next(self.first, foreach="items")

    @step
    def first(self):
        self.word = self.input * 2
        self.next(self.second)

    @step
    def second(self):
        self.word = self.word.upper()
        self.where = self.index
        self.next(self.third)

    @step
    def third(self):
        self.word = f"{self.word}-{self.index}"
        self.stack = self.foreach_stack()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.words = [inp.word for inp in inputs]
        self.stacks = [inp.stack for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MultiBodyFlow()
