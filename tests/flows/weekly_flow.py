from metaflow import FlowSpec, schedule, step


@schedule(weekly=True)
class WeeklyFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    WeeklyFlow()
