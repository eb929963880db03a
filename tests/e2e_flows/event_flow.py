"""Starts on the event mfairflow.test.ready; its payload sets the parameters."""

from metaflow import FlowSpec, Parameter, current, step, trigger


@trigger(event={"name": "mfairflow.test.ready", "parameters": {"alpha": "value", "word": "word"}})
class EventFlow(FlowSpec):
    alpha = Parameter("alpha", default=1, type=int)
    word = Parameter("word", default="none")
    other = Parameter("other", default="untouched")

    @step
    def start(self):
        self.got = [self.alpha, self.word, self.other]
        self.event_name = current.trigger.event.name
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EventFlow()
