from metaflow import FlowSpec, step


class NestedForeachFlow(FlowSpec):
    """Three foreach levels: letters x numbers x signs (1 + 2 numbers, 2 signs each)."""

    @step
    def start(self):
        self.letters = ["a", "b"]
        self.next(self.per_letter, foreach="letters")

    @step
    def per_letter(self):
        self.letter = self.input
        self.numbers = list(range(len(self.letter) + self.index))  # 1, 2, 3 numbers
        self.next(self.per_number, foreach="numbers")

    @step
    def per_number(self):
        self.number = self.input
        self.signs = ["+", "-"]
        self.next(self.per_sign, foreach="signs")

    @step
    def per_sign(self):
        self.item = f"{self.letter}{self.input}{self.number}"
        self.stack = self.foreach_stack()
        self.next(self.join_signs)

    @step
    def join_signs(self, inputs):
        self.items = [inp.item for inp in inputs]
        self.merge_artifacts(inputs, include=["letter", "number"])
        self.next(self.after_signs)

    @step
    def after_signs(self):
        self.joined = "|".join(self.items)
        self.next(self.join_numbers)

    @step
    def join_numbers(self, inputs):
        self.joined_numbers = [inp.joined for inp in inputs]
        self.merge_artifacts(inputs, include=["letter"])
        self.next(self.join_letters)

    @step
    def join_letters(self, inputs):
        self.all = [inp.joined_numbers for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        self.count = sum(len(x) for x in self.all)


if __name__ == "__main__":
    NestedForeachFlow()
