import os

from metaflow import FlowSpec, secrets, step


class SecretsFlow(FlowSpec):
    """@secrets in a pod: the secret is fetched from the default backend with the pod's identity."""

    @secrets(sources=["mfairflow/db"])
    @step
    def start(self):
        self.user = os.environ["DB_USER"]
        self.password_length = len(os.environ["DB_PASSWORD"])
        self.next(self.end)

    @step
    def end(self):
        self.summary = f"{self.user}:{self.password_length}"


if __name__ == "__main__":
    SecretsFlow()
