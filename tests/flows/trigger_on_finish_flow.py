from metaflow import FlowSpec, current, step, trigger_on_finish


@trigger_on_finish(flows=["UpstreamFlow", "analytics.prod.FeatureFlow"])
class DownstreamFlow(FlowSpec):
    """Runs when both UpstreamFlow and analytics' production FeatureFlow have finished."""

    @step
    def start(self):
        self.upstream = [run.pathspec for run in (current.trigger.runs or [])]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DownstreamFlow()
