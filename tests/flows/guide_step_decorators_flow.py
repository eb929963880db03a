from metaflow import FlowSpec, kubernetes, retry, step, timeout


class GuideStepDecoratorsFlow(FlowSpec):
    """The step decorator examples of the user guide, in one flow."""

    @step
    def start(self):
        self.next(self.train_model)

    @kubernetes(
        cpu=4,
        memory=8192,
        gpu=1,
        gpu_vendor="nvidia",
        image="my-registry/my-image:latest",
        namespace="metaflow",
        service_account="metaflow-sa",
        secrets=["my-secret-1", "my-secret-2"],
        node_selector={"node.type": "gpu"},
    )
    @step
    def train_model(self):
        # Training code
        self.next(self.flaky_step)

    @retry(times=3, minutes_between_retries=5)
    @step
    def flaky_step(self):
        self.next(self.long_running_step)

    @timeout(seconds=3600)
    @step
    def long_running_step(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    GuideStepDecoratorsFlow()
