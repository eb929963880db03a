"""Step decorator that gives a triggered run's tasks `current.trigger` (runs inside every task of
a DAG scheduled on Assets).

Self-contained on purpose: it travels in the code package to pods that do not have mfairflow.
The DAG renders the events that started the run (Airflow's triggering asset events) into
MFAIRFLOW_TRIGGER_EVENTS as Metaflow's trigger metadata: a list of {"type": "run" or "event",
"name", "id", "timestamp"}, "id" being the end task's pathspec for an upstream flow's finish.
"""

import json
import os

from metaflow import current
from metaflow.decorators import StepDecorator
from metaflow.events import Trigger
from metaflow.metadata_provider import MetaDatum

TRIGGER_ENV = "MFAIRFLOW_TRIGGER_EVENTS"


class MfairflowTriggerDecorator(StepDecorator):
    """Before the step: `current.trigger` from the run's triggering events, and (start step)
    the events as the run's ``execution-triggers`` metadata, which `Run.trigger` reads."""

    name = "mfairflow_trigger"

    def task_pre_step(
        self,
        step_name,
        task_datastore,
        metadata,
        run_id,
        task_id,
        flow,
        graph,
        retry_count,
        max_user_code_retries,
        ubf_context,
        inputs,
    ):
        try:
            triggers = json.loads(os.environ.get(TRIGGER_ENV) or "[]")
        except ValueError:
            triggers = []
        triggers = (
            [t for t in triggers if isinstance(t, dict)] if isinstance(triggers, list) else []
        )
        if not triggers:  # a run started by hand or by its schedule
            return
        current._update_env({"trigger": Trigger([dict(t) for t in triggers])})
        if step_name == graph.start_step:
            metadata.register_metadata(
                run_id,
                step_name,
                task_id,
                [
                    MetaDatum(
                        field="execution-triggers",
                        value=json.dumps(triggers),
                        type="execution-triggers",
                        tags=[f"attempt_id:{retry_count}"],
                    )
                ],
            )
