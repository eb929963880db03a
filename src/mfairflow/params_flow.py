from metaflow import FlowSpec, JSONType, Parameter, step


class ParamsFlow(FlowSpec):
    """Every parameter type the guide supports, plus JSON."""

    count = Parameter("count", default=3, type=int, help="an int")
    rate = Parameter("rate", default=0.5, type=float, help="a float")
    label = Parameter("label", default="plain", help="a string")
    flag = Parameter("flag", default=False, type=bool, help="a bool")
    config = Parameter("config", default='{"depth": 2, "names": ["a", "b"]}', type=JSONType)

    @step
    def start(self):
        self.seen = {
            "count": self.count,
            "rate": self.rate,
            "label": self.label,
            "flag": self.flag,
            "config": self.config,
        }
        self.types = {k: type(v).__name__ for k, v in self.seen.items()}
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ParamsFlow()
