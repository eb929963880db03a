"""A `@slurm` step decorator that does nothing (see mfextinit_slurm_stub.py)."""

from metaflow.decorators import StepDecorator


class SlurmDecorator(StepDecorator):
    name = "slurm"
    defaults = {"partition": None}
