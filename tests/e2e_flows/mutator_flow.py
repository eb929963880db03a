from metaflow import FlowMutator, FlowSpec, step


class AddRetryAndEnv(FlowMutator):
    """Adds @retry and @environment to every step after the flow is defined."""

    def pre_mutate(self, mutable_flow):
        for name, s in mutable_flow.steps:
            s.add_decorator("retry", deco_kwargs={"times": 2, "minutes_between_retries": 0})
            s.add_decorator("environment", deco_kwargs={"vars": {"MUTATED": name}})


@AddRetryAndEnv
class MutatorFlow(FlowSpec):
    """Decorators attached by a flow mutator."""

    @step
    def start(self):
        import os

        self.seen = os.environ.get("MUTATED")
        self.next(self.end)

    @step
    def end(self):
        import os

        self.seen_end = os.environ.get("MUTATED")


if __name__ == "__main__":
    MutatorFlow()
