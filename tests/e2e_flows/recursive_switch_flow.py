from metaflow import FlowSpec, step


class LoopFlow(FlowSpec):
    @step
    def start(self):
        self.i = 0
        self.next(self.work)

    @step
    def work(self):
        self.i += 1
        self.again = "yes" if self.i < 3 else "no"
        self.next({"yes": self.work, "no": self.end}, condition="again")

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LoopFlow()
