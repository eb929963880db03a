from metaflow import FlowSpec, current, step


class OutageFlow(FlowSpec):
    """fetch fails while the file service_state (beside the flow) says "down": an outside
    system the operator repairs before clearing the failed task."""

    @step
    def start(self):
        self.next(self.fetch)

    @step
    def fetch(self):
        with open("service_state") as handle:
            state = handle.read().strip()
        if state == "down":
            raise RuntimeError("the service is down")
        self.fetched = state
        self.attempt = current.retry_count
        self.next(self.end)

    @step
    def end(self):
        self.done = True


if __name__ == "__main__":
    OutageFlow()
