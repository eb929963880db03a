from metaflow import FlowSpec, kubernetes, step


class KubernetesOptionsFlow(FlowSpec):
    """Every @kubernetes option that mfairflow maps onto the pod."""

    @step
    def start(self):
        self.next(self.train)

    @kubernetes(
        cpu=4,
        memory=8192,
        disk=51200,
        gpu=2,
        gpu_vendor="nvidia",
        image="my-registry/my-image:latest",
        namespace="metaflow",
        service_account="metaflow-sa",
        secrets=["my-secret-1", "my-secret-2"],
        node_selector={"node.type": "gpu", "topology.kubernetes.io/zone": "eu-west-1a"},
        tolerations=[
            {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
            {"key": "spot", "operator": "Exists", "effect": "NoExecute"},
        ],
        labels={"team": "ml", "cost-center": "42"},
        annotations={"example.com/owner": "ml-team", "note": "free text, with spaces!"},
    )
    @step
    def train(self):
        self.next(self.amd)

    @kubernetes(cpu=0.5, memory=512, gpu=1, gpu_vendor="amd")
    @step
    def amd(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesOptionsFlow()
