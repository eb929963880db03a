"""The user guide's Quick Start flow."""

from metaflow import FlowSpec, kubernetes, schedule, step


@schedule(daily=True)
class MyAirflowFlow(FlowSpec):
    @step
    def start(self):
        print("Starting workflow")
        self.next(self.process)

    @kubernetes(cpu=2, memory=4096)
    @step
    def process(self):
        # Heavy computation
        self.result = sum(range(1000000))
        self.next(self.end)

    @step
    def end(self):
        print(f"Result: {self.result}")


if __name__ == "__main__":
    MyAirflowFlow()
