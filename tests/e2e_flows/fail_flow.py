from metaflow import FlowSpec, step


class FailFlow(FlowSpec):
    """broken always fails: the DAG run fails and end never runs."""

    @step
    def start(self):
        self.next(self.broken)

    @step
    def broken(self):
        raise RuntimeError("always fails")
        self.next(self.end)

    @step
    def end(self):
        self.reached = True


if __name__ == "__main__":
    FailFlow()
