from metaflow import FlowSpec, catch, current, retry, step


class CatchFlow(FlowSpec):
    """@catch keeps the run going; with @retry only the last attempt catches."""

    @step
    def start(self):
        self.next(self.risky, self.flaky)

    @catch(var="failure")
    @step
    def risky(self):
        raise ValueError("caught on purpose")
        self.next(self.join)

    @catch(var="failure")
    @retry(times=1, minutes_between_retries=0)
    @step
    def flaky(self):
        self.attempts_seen = current.retry_count
        raise ValueError(f"attempt {current.retry_count} fails")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.risky_failure = str(inputs.risky.failure)
        self.flaky_failure = str(inputs.flaky.failure)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CatchFlow()
