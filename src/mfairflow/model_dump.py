"""The model as YAML (`--emit-model`), for reviewers and template authors."""

from __future__ import annotations

import dataclasses

from .model import DagSpec, JsonObject
from .render import write_atomically

MODEL_HEADER = "# The model of a DAG, written by mfairflow (airflow create --emit-model).\n"
"""The first line of every model file: --emit-model replaces only a file that starts with it."""


def model_to_data(value):
    """Plain YAML-able data for a model object (dataclasses → mappings, tuples → lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: model_to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, JsonObject):
        return {k: model_to_data(v) for k, v in value}
    if isinstance(value, (tuple, list)):
        return [model_to_data(v) for v in value]
    return value


def write_model(spec: DagSpec, path: str) -> None:
    """Write the model of one DAG to a YAML file (atomically)."""
    import yaml

    text = yaml.safe_dump(model_to_data(spec), sort_keys=False, allow_unicode=True, width=100)
    write_atomically(path, MODEL_HEADER + text)
