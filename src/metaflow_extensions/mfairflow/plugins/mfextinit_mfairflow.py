"""mfairflow's Metaflow extension: its `airflow` command replaces Metaflow's own.

Metaflow merges extension plugins after its own, so this `airflow` entry wins. The step
decorator `mfairflow_internal` (on every task) writes a foreach step's split list and a switch's
choice where Airflow reads XCom, and keeps a resumed run's copied and rerun tasks consistent;
`mfairflow_trigger` gives the tasks of an Asset-triggered run `current.trigger`.
"""

CLIS_DESC = [("airflow", ".airflow_cli.cli")]
STEP_DECORATORS_DESC = [
    ("mfairflow_internal", ".mfairflow_internal.MfairflowInternalDecorator"),
    # current.trigger in the tasks of a run that Airflow Assets started (see triggers.py).
    ("mfairflow_trigger", ".mfairflow_trigger.MfairflowTriggerDecorator"),
    # Metaflow's @kubernetes, which lets `airflow create --help` and mfairflow's own datastore
    # check run without a cloud datastore (see airflow_kubernetes.py).
    ("kubernetes", ".airflow_kubernetes.AirflowCompileKubernetesDecorator"),
]
DEPLOYER_IMPL_PROVIDERS_DESC = [("airflow", ".airflow_deployer.AirflowDeployer")]
