"""Parameters of every type, set from the payload of the event data.ready (each from the field
of its own name)."""

from metaflow import FlowSpec, JSONType, Parameter, step, trigger


@trigger(event="data.ready")
class EventTypesFlow(FlowSpec):
    count = Parameter("count", default=1, type=int)
    ratio = Parameter("ratio", default=0.5, type=float)
    flag = Parameter("flag", default=False, type=bool)
    word = Parameter("word", default="none")
    spec = Parameter("spec", default='{"k": [1]}', type=JSONType)

    @step
    def start(self):
        self.got = [self.count, self.ratio, self.flag, self.word, self.spec]
        self.types = [type(value).__name__ for value in self.got]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EventTypesFlow()
