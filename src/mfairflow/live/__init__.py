"""The live-Airflow side: REST client, a local Airflow, trigger/status/delete, Metaflow's Deployer
objects (the Deployer itself is registered by the Metaflow extension, which pods import too).

Knows nothing of templates or the analyzer; the compile pipeline calls `commands.deploy` after
the DAG file is written.
"""
