import time

from metaflow import FlowSpec, Parameter, current, retry, step


class SlowForeachFlow(FlowSpec):
    """A foreach whose splits take a while: the fault tests kill processes under it. The
    body is retried once (a killed attempt comes back)."""

    seconds = Parameter("seconds", default=20, type=int)
    width = Parameter("width", default=3, type=int)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.body, foreach="items")

    @retry(times=1, minutes_between_retries=0)
    @step
    def body(self):
        # Only the first attempt is slow: a retry after a kill finishes at once.
        if current.retry_count == 0:
            time.sleep(self.seconds)
        self.square = self.input * self.input
        self.attempt = current.retry_count
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = [inp.square for inp in inputs]
        self.attempts = [inp.attempt for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.squares)


if __name__ == "__main__":
    SlowForeachFlow()
