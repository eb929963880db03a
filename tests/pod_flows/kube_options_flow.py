"""Every @kubernetes option mfairflow supports, with @environment and @resources.

Compiled with METAFLOW_KUBERNETES_SECRETS=shared-one,shared-two and
METAFLOW_KUBERNETES_SERVICE_ACCOUNT=default-sa (see test_pod_specs.py).
"""

from metaflow import FlowSpec, environment, kubernetes, resources, step


class KubeOptionsFlow(FlowSpec):
    @environment(
        vars={
            "GREETING": "hello world",
            "TEMPLATE_LIKE": "{{ ds }} {% if x %}{# no #}",
            "QUOTED": 'it\'s "quoted" \\ and\nmulti-line\n',
        }
    )
    @kubernetes(
        cpu=4,
        memory=8192,
        disk=20480,
        gpu=1,
        gpu_vendor="nvidia",
        image="registry.example.com/team/trainer:1.2.3",
        namespace="ml-jobs",
        service_account="trainer-sa",
        secrets=["a", "b"],
        node_selector={"node.kubernetes.io/instance-type": "g5.xlarge", "pool": "gpu"},
        tolerations=[
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "dedicated",
                "operator": "Equal",
                "value": "ml",
                "effect": "NoExecute",
                "toleration_seconds": 300,
            },
        ],
        labels={"team": "ml", "example.com/cost-center": "c-123"},
        annotations={
            "example.com/owner": "Jane Doe <jane@example.com>",
            "example.com/note": "free text: {{ not a template }} 'q' \"qq\"",
        },
    )
    @step
    def start(self):
        self.next(self.amd)

    @kubernetes(
        gpu=2,
        gpu_vendor="amd",
        image="rocm/pytorch:latest",
        qos="Guaranteed",
        shared_memory=2048,
        port=8080,
        image_pull_secrets=["regcred", "mirror-creds"],
        security_context={
            "run_as_user": 1000,
            "run_as_non_root": True,
            "capabilities": {"drop": ["ALL"]},
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
    )
    @step
    def amd(self):
        self.next(self.sized)

    @resources(cpu=3, memory=6000, disk=30000)
    @step
    def sized(self):
        self.next(self.both)

    @kubernetes(cpu=1, memory=1024, node_selector="pool=cpu,zone=a")
    @resources(cpu=4, memory=16384, gpu=1)
    @step
    def both(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubeOptionsFlow()
