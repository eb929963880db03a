"""Metaflow's Deployer API for Airflow: the implementation lives in mfairflow.live."""

from mfairflow.live.deployer import AirflowDeployer

__all__ = ["AirflowDeployer"]
