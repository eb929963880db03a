"""Starts when UpstreamFlow finishes; every step sees the upstream run in current.trigger."""

from metaflow import FlowSpec, current, step, trigger_on_finish


@trigger_on_finish(flow="UpstreamFlow")
class DownstreamFlow(FlowSpec):
    @step
    def start(self):
        self.upstream = current.trigger.run.pathspec
        self.upstream_value = current.trigger.run.data.value
        self.next(self.end)

    @step
    def end(self):
        self.end_sees = [run.pathspec for run in current.trigger.runs]


if __name__ == "__main__":
    DownstreamFlow()
