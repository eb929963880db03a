"""Publish an event that starts the DAGs of flows with `@trigger(event=...)`: the counterpart of
Metaflow's `ArgoEvent(...).publish()` for Airflow, through its REST API.

An event is an Airflow Asset event (a Dataset event on Airflow 2) of the Asset named like the
event; its payload is the event's extra, from which `@trigger`'s parameter mappings take the
run's parameters. Any Airflow task with ``outlets=[Asset("name")]`` publishes one as well.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from .client import AirflowClient, AirflowError, require_config


class AirflowEvent:
    """An event to publish: ``AirflowEvent("data.ready").add_to_payload("value", 3).publish()``.

    Where Airflow is comes from Metaflow's config (``METAFLOW_AIRFLOW_REST_API_URL`` and
    credentials, or a profile), as for `airflow create`.
    """

    def __init__(self, name: str, payload: Optional[dict] = None) -> None:
        if not isinstance(name, str) or not name:
            raise AirflowError("an event needs a name", hint="AirflowEvent('data.ready')")
        self.name = name
        self._payload: dict = dict(payload or {})

    def add_to_payload(self, key: str, value: Any) -> AirflowEvent:
        """Add one field to the payload (the event's extra); returns the event."""
        self._payload[str(key)] = value
        return self

    def safe_publish(self, payload: Optional[dict] = None) -> Optional[dict]:
        """`publish`, returning None instead of raising when Airflow cannot be reached or does
        not know the event (as ArgoEvent.safe_publish, for code that must not fail)."""
        try:
            return self.publish(payload)
        except AirflowError:
            return None

    def publish(self, payload: Optional[dict] = None) -> dict:
        """Record the event in Airflow (raises AirflowError with a hint if it cannot); returns
        the event as Airflow stored it (its id, timestamp, extra)."""
        extra = {**self._payload, **(payload or {})}
        try:
            json.dumps(extra)
        except (TypeError, ValueError) as exc:
            raise AirflowError(
                f"the payload of event {self.name!r} is not JSON data ({exc})",
                hint="use strings, numbers, booleans, lists and dicts",
            ) from None
        return AirflowClient(require_config()).publish_asset_event(self.name, extra)
