from metaflow import FlowSpec, JSONType, Parameter, step


class AllParamsFlow(FlowSpec):
    """Every parameter type that an Airflow param can carry."""

    count = Parameter("count", type=int, default=3, help="How many items")
    ratio = Parameter("ratio", type=float, default=0.25, help="Fraction to keep")
    label = Parameter("label", type=str, default="hello world", help="A free-text label")
    dry_run = Parameter("dry_run", type=bool, default=False, help="Do not write anything")
    config = Parameter(
        "config",
        type=JSONType,
        default='{"model": {"depth": 4, "name": "tree"}, "layers": [64, 32], "debug": true}',
        help="Settings as a JSON object",
    )
    threshold = Parameter("threshold", type=float, default=1)
    inferred = Parameter("inferred", default="no type given")

    @step
    def start(self):
        print(self.count, self.ratio, self.label, self.dry_run, self.config)
        print(self.threshold, self.inferred)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    AllParamsFlow()
