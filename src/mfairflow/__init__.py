"""mfairflow: compile Metaflow flows into readable, deterministic Airflow DAG files."""

__version__ = "0.1.0"
