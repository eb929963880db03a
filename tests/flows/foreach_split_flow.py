from metaflow import FlowSpec, Parameter, step


class ForeachSplitFlow(FlowSpec):
    """A static split inside a foreach body: every split runs both branches."""

    width = Parameter("width", default=4)

    @step
    def start(self):
        self.words = [chr(ord("a") + i) * (i + 1) for i in range(self.width)]
        self.next(self.per_word, foreach="words")

    @step
    def per_word(self):
        self.word = self.input
        self.next(self.upper, self.length, self.reverse)

    @step
    def upper(self):
        self.out = self.word.upper()
        self.next(self.combine)

    @step
    def length(self):
        self.out = len(self.word)
        self.next(self.combine)

    @step
    def reverse(self):
        self.out = self.word[::-1]
        self.next(self.reverse_twice)

    @step
    def reverse_twice(self):
        self.out = self.out[::-1] + "!"
        self.next(self.combine)

    @step
    def combine(self, inputs):
        # Metaflow orders a static join's inputs as they finish: sort them.
        self.parts = sorted(str(inp.out) for inp in inputs)
        self.merge_artifacts(inputs, include=["word"])
        self.stack = self.foreach_stack()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.all = [inp.parts for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachSplitFlow()
