"""mfairflow's Metaflow extension: its `airflow` command replaces Metaflow's own.

Metaflow merges extension plugins after its own, so this `airflow` entry wins. The step
decorator `mfairflow_internal` writes a foreach step's split list where Airflow reads XCom.
"""

CLIS_DESC = [("airflow", ".airflow_cli.cli")]
STEP_DECORATORS_DESC = [
    ("mfairflow_internal", ".mfairflow_internal.MfairflowInternalDecorator"),
    # Metaflow's @kubernetes, which lets `airflow create --help` and mfairflow's own datastore
    # check run without a cloud datastore (see airflow_kubernetes.py).
    ("kubernetes", ".airflow_kubernetes.AirflowCompileKubernetesDecorator"),
]
DEPLOYER_IMPL_PROVIDERS_DESC = [("airflow", ".airflow_deployer.AirflowDeployer")]
