import uuid

from metaflow import FlowSpec, Parameter, step


class ResumeFlow(FlowSpec):
    """process fails while should_fail; every step leaves a token unique to the task that ran
    it, so a copied (cloned) task shows its origin's token."""

    should_fail = Parameter("should_fail", default=False, type=bool)
    label = Parameter("label", default="plain")

    @step
    def start(self):
        self.start_token = uuid.uuid4().hex
        self.next(self.process)

    @step
    def process(self):
        if self.should_fail:
            raise RuntimeError("should_fail is set")
        self.process_token = uuid.uuid4().hex
        self.seen = (self.should_fail, self.label)
        self.next(self.end)

    @step
    def end(self):
        self.end_token = uuid.uuid4().hex
        self.end_seen = (self.should_fail, self.label)


if __name__ == "__main__":
    ResumeFlow()
