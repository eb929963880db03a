from metaflow import FlowSpec, JSONType, Parameter, current, schedule, step, trigger


@schedule(cron="0 6 * * *", timezone="Europe/Berlin")
@trigger(
    events=[
        {"name": "data.ready", "parameters": {"alpha": "value", "labels": "labels"}},
        "model.trained",
    ]
)
class EventFlow(FlowSpec):
    """Runs at 6:00 Berlin time, and when both events have arrived since the last run."""

    alpha = Parameter("alpha", default=1, type=int, help="From data.ready's 'value'")
    labels = Parameter("labels", default='{"team": "ml"}', type=JSONType)
    unmapped = Parameter("unmapped", default="same")

    @step
    def start(self):
        self.events = [event.name for event in (current.trigger.events or [])]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EventFlow()
