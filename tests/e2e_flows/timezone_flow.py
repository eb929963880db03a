from metaflow import FlowSpec, schedule, step


@schedule(cron="30 9 * * 1-5", timezone="Europe/Berlin")
class TimezoneFlow(FlowSpec):
    """Runs at 9:30 Berlin time on weekdays, in summer and in winter."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TimezoneFlow()
