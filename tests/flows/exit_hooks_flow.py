from metaflow import FlowSpec, exit_hook, step


def notify_team(run=None):
    print("finished", run)


def page_on_call(run=None):
    print("failed", run)


@exit_hook(
    on_success=[notify_team],
    on_error=["page_on_call"],
    options={"image": "registry.example.com/hooks:1"},
)
class ExitHooksFlow(FlowSpec):
    """Notifies after a successful run, pages after a failed one."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ExitHooksFlow()
