import uuid

from metaflow import FlowSpec, Parameter, step


class ForeachResumeFlow(FlowSpec):
    """A switch whose chosen case fans out; the split of item fail_on fails. Every task leaves
    a token unique to the task that ran it, so a copied (cloned) task shows its origin's."""

    fail_on = Parameter("fail_on", default=-1, type=int)
    path = Parameter("path", default="wide")

    @step
    def start(self):
        self.items = [1, 2, 3, 4]
        self.start_token = uuid.uuid4().hex
        self.next({"wide": self.wide, "narrow": self.narrow}, condition="path")

    @step
    def wide(self):
        self.wide_token = uuid.uuid4().hex
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == self.fail_on:
            raise RuntimeError(f"item {self.input} fails")
        self.result = self.input * 10
        self.work_token = uuid.uuid4().hex
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.results = [inp.result for inp in inputs]
        self.tokens = [inp.work_token for inp in inputs]
        self.next(self.done)

    @step
    def narrow(self):
        self.results = []
        self.next(self.done)

    @step
    def done(self):
        self.total = sum(self.results)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachResumeFlow()
