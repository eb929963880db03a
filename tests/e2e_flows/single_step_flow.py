from metaflow import FlowSpec, Parameter, step


class SingleStepFlow(FlowSpec):
    """One step that is both the start and the end."""

    word = Parameter("word", default="solo")

    @step(start=True, end=True)
    def only(self):
        self.shout = self.word.upper()


if __name__ == "__main__":
    SingleStepFlow()
