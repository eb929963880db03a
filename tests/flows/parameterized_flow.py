from metaflow import FlowSpec, Parameter, step


class ParameterizedFlow(FlowSpec):
    learning_rate = Parameter("learning_rate", default=0.01, type=float, help="Learning rate")
    epochs = Parameter("epochs", default=10, type=int, help="Number of epochs")

    @step
    def start(self):
        print(f"Training with lr={self.learning_rate}, epochs={self.epochs}")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ParameterizedFlow()
