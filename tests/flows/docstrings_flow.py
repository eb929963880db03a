from metaflow import FlowSpec, step


class DocstringsFlow(FlowSpec):
    """Nightly report for the **sales** team.

    The flow reads yesterday's orders and writes a summary.
    It has a second paragraph with `code`, "quotes" and a backslash \\ in it.
    """

    @step
    def start(self):
        """Read the orders.

        One line per order.
        """
        self.orders = [1, 2, 3]
        self.next(self.summarize)

    @step
    def summarize(self):
        """Summarize the orders."""
        self.total = sum(self.orders)
        self.next(self.end)

    @step
    def end(self):
        # No docstring here.
        print(self.total)


if __name__ == "__main__":
    DocstringsFlow()
