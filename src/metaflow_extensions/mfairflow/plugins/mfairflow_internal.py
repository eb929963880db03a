"""Step decorator that hands a foreach step's splits to Airflow (runs inside every task).

Self-contained on purpose: it travels in the code package to pods that do not have mfairflow.
"""

import json
import os

from metaflow.decorators import StepDecorator

XCOM_FILE_ENV = "MFAIRFLOW_XCOM_FILE"
DEFAULT_XCOM_FILE = "/airflow/xcom/return.json"  # read by the KubernetesPodOperator's sidecar


class MfairflowInternalDecorator(StepDecorator):
    """After a successful foreach step, write ``[["--split-index", "i"], ...]`` as XCom."""

    name = "mfairflow_internal"

    def task_finished(self, step_name, flow, graph, is_task_ok, retry_count, max_user_code_retries):
        if not is_task_ok or graph[step_name].type != "foreach":
            return
        splits = [["--split-index", str(i)] for i in range(flow._foreach_num_splits)]
        path = os.environ.get(XCOM_FILE_ENV, DEFAULT_XCOM_FILE)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(splits, handle)
        os.replace(tmp, path)
