import time

from metaflow import FlowSpec, step, timeout


class TimeoutFlow(FlowSpec):
    """slow sleeps 30 s under a 2 s timeout: Airflow fails it, end never runs."""

    @step
    def start(self):
        self.next(self.slow)

    @timeout(seconds=2)
    @step
    def slow(self):
        time.sleep(30)
        self.next(self.end)

    @step
    def end(self):
        self.reached = True


if __name__ == "__main__":
    TimeoutFlow()
