from metaflow import FlowSpec, card, current, step
from metaflow.cards import Markdown


class CardFlow(FlowSpec):
    """A step with a card."""

    @card(type="blank")
    @step
    def start(self):
        self.value = 42
        current.card.append(Markdown("# The answer is 42"))
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardFlow()
