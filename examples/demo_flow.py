"""The demo flow: parameters, a foreach fanned out by Airflow, a join and a result."""

from metaflow import FlowSpec, Parameter, resources, retry, step


class DemoFlow(FlowSpec):
    """Square some numbers in parallel and add them up."""

    count = Parameter("count", default=5, type=int, help="How many numbers to square")
    label = Parameter("label", default="demo", help="A label stored with the result")

    @step
    def start(self):
        """Make the work list."""
        self.numbers = list(range(1, self.count + 1))
        self.next(self.square, foreach="numbers")

    @resources(cpu=1, memory=1024)
    @retry(times=1, minutes_between_retries=0)
    @step
    def square(self):
        """One Airflow mapped task per number."""
        self.squared = self.input * self.input
        self.next(self.total)

    @step
    def total(self, inputs):
        """Join: add up the squares in split order."""
        self.squares = [inp.squared for inp in inputs]
        self.result = sum(self.squares)
        self.next(self.end)

    @step
    def end(self):
        print(f"{self.label}: sum of squares 1..{self.count} = {self.result}")


if __name__ == "__main__":
    DemoFlow()
