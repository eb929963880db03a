"""Loads mfairflow's `airflow` command group (only where mfairflow is installed)."""

from mfairflow.cli import cli  # noqa: F401
