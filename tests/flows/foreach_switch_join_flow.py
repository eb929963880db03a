from metaflow import FlowSpec, Parameter, step


class ForeachSwitchJoinFlow(FlowSpec):
    """A switch inside a foreach whose cases meet in the foreach's join: the join reads, for
    every split, the case that split chose."""

    kinds = Parameter("kinds", default="a,b,a,c")

    @step
    def start(self):
        self.items = [
            {"id": i, "kind": kind, "data": (i + 1) * 100}
            for i, kind in enumerate(self.kinds.split(","))
        ]
        self.next(self.process_item, foreach="items")

    @step
    def process_item(self):
        self.item_type = self.input["kind"]
        self.next(
            {"a": self.handle_a, "b": self.handle_b, "c": self.handle_c}, condition="item_type"
        )

    @step
    def handle_a(self):
        self.result = f"A({self.input['data'] * 2})"
        self.next(self.join)

    @step
    def handle_b(self):
        self.result = f"B({self.input['data'] + 1})"
        self.next(self.join)

    @step
    def handle_c(self):
        self.result = f"C({self.input['id']})"
        self.stack = self.foreach_stack()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.results = [inp.result for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachSwitchJoinFlow()
