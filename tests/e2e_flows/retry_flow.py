from metaflow import FlowSpec, current, retry, step


class RetryFlow(FlowSpec):
    """flaky fails on its first attempt and succeeds on the second."""

    @step
    def start(self):
        self.next(self.flaky)

    @retry(times=2, minutes_between_retries=0)
    @step
    def flaky(self):
        if current.retry_count == 0:
            raise RuntimeError("first attempt fails on purpose")
        self.attempt = current.retry_count
        self.next(self.end)

    @step
    def end(self):
        self.done = True


if __name__ == "__main__":
    RetryFlow()
