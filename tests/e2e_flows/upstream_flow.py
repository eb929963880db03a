"""The upstream flow of the @trigger_on_finish test: its finish starts DownstreamFlow."""

from metaflow import FlowSpec, step


class UpstreamFlow(FlowSpec):
    @step
    def start(self):
        self.value = 17
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UpstreamFlow()
