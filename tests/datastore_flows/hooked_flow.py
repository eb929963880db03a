"""A flow with exit hooks: each hook's pod prints the run it read back from the datastore."""

from metaflow import FlowSpec, exit_hook, step


def report(run=None):
    print(f"HOOK success {run.pathspec} {run.successful} {run['end'].task.data.value}")


def alarm(run=None):
    print(f"HOOK error {run.pathspec}")


@exit_hook(on_success=[report], on_error=[alarm])
class HookedFlow(FlowSpec):
    @step
    def start(self):
        self.value = 7
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    HookedFlow()
