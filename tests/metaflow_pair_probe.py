"""Print an Airflow run and a local run of one flow, each with its lineage, as one JSON object.

Usage: python metaflow_pair_probe.py NAMESPACE FLOW LOCAL_RUN_ID
The Airflow run is the latest run of FLOW in NAMESPACE (its production namespace), the local
run is FLOW/LOCAL_RUN_ID in any namespace. Keys: airflow and local (what metaflow_probe.py prints
for each), airflow_lineage and local_lineage (what metaflow_lineage_probe.py prints for each).
One process instead of four: each of them spends most of its time importing Metaflow.
Run it in the flow's folder, so that the local metadata and datastore are found.
"""

import json
import sys

from metaflow import Flow, Run, namespace
from metaflow_lineage_probe import lineage_of
from metaflow_probe import describe


def main() -> None:
    ns, flow, local_run_id = sys.argv[1:4]
    found = {}
    namespace(ns)
    airflow_run = describe(Flow(flow).latest_run)
    found["airflow"] = airflow_run
    run_id = airflow_run["pathspec"].split("/")[1]
    found["airflow_lineage"] = lineage_of(Run(f"{flow}/{run_id}"))
    namespace(None)
    found["local"] = describe(Run(f"{flow}/{local_run_id}"))
    found["local_lineage"] = lineage_of(Run(f"{flow}/{local_run_id}"))
    print(json.dumps(found, sort_keys=True))


if __name__ == "__main__":
    main()
