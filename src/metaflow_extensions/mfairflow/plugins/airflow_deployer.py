"""Metaflow's Deployer API for Airflow: `Deployer('flow.py').airflow(name=...).create(...)`.

Registered by mfairflow's extension (`DEPLOYER_IMPL_PROVIDERS_DESC`); TYPE is also the name of
the CLI group whose `create` the base class runs with `--deployer-attribute-file`.

Metaflow imports every deployer provider with `import metaflow`, in pods too, and the code
package carries this extension into images that do not have the `mfairflow` package: so this
module imports only Metaflow, and the live side (`mfairflow.live.deployer_objects`) only when a
deployment is created or looked up.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Type

from metaflow.runner.deployer_impl import DeployerImpl


class AirflowDeployer(DeployerImpl):
    """Deployer implementation for Airflow (mfairflow).

    Parameters
    ----------
    name : str, optional, default None
        Airflow DAG id. The flow name is used instead if this option is not specified.
    """

    TYPE: ClassVar[Optional[str]] = "airflow"

    def __init__(self, deployer_kwargs: Dict[str, str], **kwargs: Any) -> None:
        self._deployer_kwargs = deployer_kwargs
        super().__init__(**kwargs)

    @property
    def deployer_kwargs(self) -> Dict[str, Any]:
        """Options of the `airflow` group (``name``)."""
        return self._deployer_kwargs

    @staticmethod
    def deployed_flow_type() -> Type[Any]:
        """The DeployedFlow class of this implementation (mfairflow's AirflowDeployedFlow)."""
        from mfairflow.live.deployer_objects import AirflowDeployedFlow

        return AirflowDeployedFlow

    def create(self, **kwargs: Any) -> Any:
        """Compile the flow into the DAGs folder and wait until Airflow loaded it.

        Parameters
        ----------
        file : str, optional
            DAG file (default ``$METAFLOW_AIRFLOW_DAGS_FOLDER/<dag id>.py``); an existing file
            is replaced only if mfairflow generated it.
        target : str, optional, default "kubernetes"
            ``kubernetes`` or ``local`` (steps as local processes, for testing).
        tags : List[str], optional
            DAG tags and Metaflow run tags.
        is_paused_upon_creation : bool, optional, default False
            Leave the DAG paused.
        deploy_timeout : int, optional, default 300
            Seconds to wait for Airflow's parse.
        **kwargs : Any
            Any other option of `airflow create` (max_workers, worker_pool, namespace, ...).

        Returns
        -------
        AirflowDeployedFlow
        """
        return self._create(self.deployed_flow_type(), **kwargs)
