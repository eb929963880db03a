"""Exit hooks on success and on error: each writes what it got into the flow's folder."""

import json

from metaflow import FlowSpec, Parameter, exit_hook, step


def record(kind, run):
    with open(f"hook_{kind}.json", "w") as out:
        json.dump(
            {
                "pathspec": run.pathspec if run else None,
                "successful": run.successful if run else None,
                "middle_value": run["middle"].task.data.value if run and run.successful else None,
            },
            out,
        )


def celebrate(run=None):
    record("success", run)
    if run.data.hook_fails:
        raise RuntimeError("the success hook fails on purpose")


def mourn(run=None):
    record("error", run)


@exit_hook(on_success=[celebrate], on_error=["mourn"])
class ExitHookFlow(FlowSpec):
    fail = Parameter("fail", default=False, type=bool)
    hook_fails = Parameter("hook_fails", default=False, type=bool)

    @step
    def start(self):
        self.next(self.middle)

    @step
    def middle(self):
        if self.fail:
            raise RuntimeError("failing on purpose")
        self.value = 42
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ExitHookFlow()
