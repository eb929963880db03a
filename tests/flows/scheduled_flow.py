from metaflow import FlowSpec, schedule, step


@schedule(cron="0 10 * * *")  # Daily at 10:00 AM
class ScheduledFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ScheduledFlow()
