from metaflow import FlowSpec, Parameter, step


class NestedShapesFlow(FlowSpec):
    """A switch inside a nested foreach whose "even" case holds a static split: every
    (group, item) pair chooses its own case."""

    sizes = Parameter("sizes", default="2,3")

    @step
    def start(self):
        self.groups = [int(size) for size in self.sizes.split(",")]
        self.next(self.per_group, foreach="groups")

    @step
    def per_group(self):
        self.group = self.index
        self.items = list(range(self.input))
        self.next(self.per_item, foreach="items")

    @step
    def per_item(self):
        self.value = self.group * 10 + self.input
        self.kind = "even" if self.value % 2 == 0 else "odd"
        self.next({"even": self.even_split, "odd": self.odd_step}, condition="kind")

    @step
    def even_split(self):
        self.next(self.even_a, self.even_b)

    @step
    def even_a(self):
        self.part = f"a{self.value}"
        self.next(self.even_join)

    @step
    def even_b(self):
        self.part = f"b{self.value}"
        self.next(self.even_join)

    @step
    def even_join(self, inputs):
        self.result = sorted(inp.part for inp in inputs)
        self.merge_artifacts(inputs, exclude=["part"])
        self.next(self.merge_item)

    @step
    def odd_step(self):
        self.result = [f"odd{self.value}"]
        self.next(self.merge_item)

    @step
    def merge_item(self):
        self.stack = self.foreach_stack()
        self.summary = "+".join(self.result)
        self.next(self.join_items)

    @step
    def join_items(self, inputs):
        self.summaries = [inp.summary for inp in inputs]
        self.next(self.join_groups)

    @step
    def join_groups(self, inputs):
        self.all = [inp.summaries for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NestedShapesFlow()
