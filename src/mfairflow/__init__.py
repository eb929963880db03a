"""mfairflow: compile Metaflow flows into readable, deterministic Airflow DAG files."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``mfairflow.AirflowEvent`` (publish an event for `@trigger`), imported on first use."""
    if name == "AirflowEvent":
        from .live.events import AirflowEvent

        return AirflowEvent
    raise AttributeError(f"module 'mfairflow' has no attribute {name!r}")
