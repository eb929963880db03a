"""Step decorator that hands routing data to Airflow (runs inside every task that needs it).

Self-contained on purpose: it travels in the code package to pods that do not have mfairflow.
"""

import json
import os

from metaflow.decorators import StepDecorator

XCOM_FILE_ENV = "MFAIRFLOW_XCOM_FILE"
DEFAULT_XCOM_FILE = "/airflow/xcom/return.json"  # read by the KubernetesPodOperator's sidecar


class MfairflowInternalDecorator(StepDecorator):
    """After a successful step, write what Airflow needs to route the run as XCom.

    A foreach step writes one argument list per split, ``[["--split-index", "i"], ...]``, which
    its body is mapped over; a switch step writes the name of the step it chose.
    """

    name = "mfairflow_internal"

    def task_finished(self, step_name, flow, graph, is_task_ok, retry_count, max_user_code_retries):
        if not is_task_ok:
            return
        kind = graph[step_name].type
        if kind == "foreach":
            value = [["--split-index", str(i)] for i in range(flow._foreach_num_splits)]
        elif kind == "split-switch":
            value = flow._transition[0][0]
        else:
            return
        path = os.environ.get(XCOM_FILE_ENV, DEFAULT_XCOM_FILE)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(value, handle)
        os.replace(tmp, path)
