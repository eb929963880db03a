from metaflow import FlowSpec, step


class LinearFlow(FlowSpec):
    """start → a → b → end."""

    @step
    def start(self):
        self.x = 1
        self.next(self.a)

    @step
    def a(self):
        self.x += 10
        self.next(self.b)

    @step
    def b(self):
        self.y = self.x * 3
        self.next(self.end)

    @step
    def end(self):
        self.total = self.x + self.y


if __name__ == "__main__":
    LinearFlow()
