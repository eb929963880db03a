"""A stand-in for the metaflow-slurm extension: it only registers a `@slurm` step decorator.

Metaflow 2.19 has no `@slurm` of its own; users get it from an extension. The validation tests
put `tests/flows_bad/slurm_ext` on PYTHONPATH so that `from metaflow import slurm` works and
mfairflow's own check is what rejects the step.
"""

STEP_DECORATORS_DESC = [("slurm", ".slurm_decorator.SlurmDecorator")]
