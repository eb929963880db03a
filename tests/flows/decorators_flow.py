from metaflow import FlowSpec, environment, kubernetes, resources, retry, step, timeout


class DecoratorsFlow(FlowSpec):
    """@retry, @timeout, @environment and @resources on plain steps."""

    @retry(times=3, minutes_between_retries=5)
    @step
    def start(self):
        self.next(self.default_retry)

    @retry
    @step
    def default_retry(self):
        self.next(self.timed)

    @timeout(hours=1, minutes=30, seconds=15)
    @step
    def timed(self):
        self.next(self.with_env)

    @environment(vars={"GREETING": "hello", "EMPTY": "", "TEMPLATE_LIKE": "{{ ds }}"})
    @step
    def with_env(self):
        import os

        print(os.environ["GREETING"])
        self.next(self.with_resources)

    @resources(cpu=3, memory=12288, disk=20480, gpu=1)
    @step
    def with_resources(self):
        self.next(self.resources_and_kubernetes)

    @resources(cpu=8, memory=16384)
    @kubernetes(cpu=2, memory=32768)
    @step
    def resources_and_kubernetes(self):
        self.next(self.everything)

    @retry(times=1, minutes_between_retries=0)
    @timeout(minutes=10)
    @environment(vars={"MODE": "all"})
    @resources(memory=8192)
    @step
    def everything(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DecoratorsFlow()
