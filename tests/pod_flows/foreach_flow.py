"""The user guide's foreach flow: the body becomes a mapped KubernetesPodOperator."""

from metaflow import FlowSpec, kubernetes, step


class ForeachFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(10))
        self.next(self.process, foreach="items")

    @kubernetes(cpu=2)
    @step
    def process(self):
        self.result = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.results = [inp.result for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        print(f"Results: {self.results}")


if __name__ == "__main__":
    ForeachFlow()
