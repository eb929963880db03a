from metaflow import FlowSpec, step


class ForeachStringsFlow(FlowSpec):
    """A foreach over strings."""

    @step
    def start(self):
        self.fruits = ["apple", "banana", "cherry"]
        self.next(self.shout, foreach="fruits")

    @step
    def shout(self):
        self.loud = self.input.upper()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.all_loud = [inp.loud for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        print(self.all_loud)


if __name__ == "__main__":
    ForeachStringsFlow()
