"""Metaflow's @kubernetes, except while `airflow` compiles the flow.

Metaflow initialises every step decorator before any command runs, and its @kubernetes refuses
a local datastore there: `python flow.py airflow create --help` failed, and so did every compile,
with Metaflow's message rather than one that says what to set. While the command is `airflow`,
this subclass lets the datastore through; mfairflow's own check (analyzer.validation
check_datastore) then rejects a deploy without a cloud datastore, with what to set. Nor does it
import the Kubernetes client, which only Metaflow's own pod launches need. Every other command,
a pod's `step` included, gets Metaflow's checks unchanged.
"""

import sys
from contextlib import contextmanager

from metaflow.plugins.kubernetes.kubernetes_decorator import KubernetesDecorator

CLOUD_DATASTORES = ("s3", "azure", "gs")
# Metaflow's top-level options that take no value (all others take one, as --opt V or --opt=V).
_FLAGS = {"--quiet", "--no-pylint", "--pylint", "--force-rebuild-environments", "--help"}


def command_args(argv):
    """A flow's command line from its Metaflow command on (`step start --run-id ...`), or []."""
    args = list(argv[1:])
    while args:
        if not args[0].startswith("-"):
            return args
        arg = args.pop(0)
        if "=" not in arg and arg not in _FLAGS and args:
            args.pop(0)
    return []


def command_of(argv):
    """The Metaflow command of a flow's command line (`run`, `step`, `airflow`, ...), or None."""
    args = command_args(argv)
    return args[0] if args else None


class _CloudLike:
    """The flow's datastore, shown to Metaflow's check as a cloud one."""

    TYPE = CLOUD_DATASTORES[0]

    def __init__(self, datastore):
        self._datastore = datastore

    def __getattr__(self, name):
        return getattr(self._datastore, name)


@contextmanager
def _gpu_hidden(kubernetes, decos):
    """Metaflow's step_init without its GPU check; then the GPU count Metaflow would have set
    (the last @resources(gpu=...) wins over @kubernetes(gpu=...)), unchecked."""
    resources = [d for d in decos if d.name == "resources" and d.attributes.get("gpu") is not None]
    hidden = {id(deco): deco.attributes["gpu"] for deco in (kubernetes, *resources)}
    for deco in (kubernetes, *resources):
        deco.attributes["gpu"] = None
    try:
        yield
    finally:
        for deco in resources:
            deco.attributes["gpu"] = hidden[id(deco)]
        gpu = resources[-1].attributes["gpu"] if resources else hidden[id(kubernetes)]
        kubernetes.attributes["gpu"] = gpu


class AirflowCompileKubernetesDecorator(KubernetesDecorator):
    """@kubernetes; compiling for Airflow defers the datastore check to mfairflow."""

    def init(self):
        # Metaflow runs init() only when the class itself defines it.
        super().init()

    def package_init(self, flow, step_name, environment):
        # Metaflow checks here that the Kubernetes client is installed, since its own runs launch
        # pods with it; importing it costs about a second. Compiling for Airflow launches none.
        if command_of(sys.argv) != "airflow":
            super().package_init(flow, step_name, environment)

    def step_init(self, flow, graph, step, decos, environment, flow_datastore, logger):
        if command_of(sys.argv) != "airflow":
            return super().step_init(flow, graph, step, decos, environment, flow_datastore, logger)
        # mfairflow checks the GPU count itself (analyzer.pods), naming the step and its line:
        # Metaflow's check crashes on gpu="lots" and lets gpu=True or gpu=-1 through.
        with _gpu_hidden(self, decos):
            if flow_datastore.TYPE in CLOUD_DATASTORES:
                super().step_init(flow, graph, step, decos, environment, flow_datastore, logger)
            else:
                datastore = _CloudLike(flow_datastore)
                super().step_init(flow, graph, step, decos, environment, datastore, logger)
                self.flow_datastore = flow_datastore
