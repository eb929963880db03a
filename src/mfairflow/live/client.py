"""A thin REST client for Airflow 3 (`/api/v2`, bearer token) and Airflow 2.10 (`/api/v1`, basic
auth).

Why a thin client on httpx rather than the official `apache-airflow-client`: the official client is
generated per API version (its 3.x line speaks only v2, its 2.x line only v1) and one environment
cannot hold both, while mfairflow must drive either server from the same install. httpx already
ships with Airflow (both 2.10 and 3) and mfairflow uses a dozen endpoints, so a small client that
asks the server its version and speaks the matching API is less code and fewer dependencies.
Credentials live only in this object: never printed, never written to a file.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional

from ..errors import CompileError

# Answers of an Airflow that is restarting or overloaded: a read is asked again.
RETRIED_STATUS = (500, 502, 503, 504)


class AirflowError(CompileError):
    """A failure talking to a live Airflow: what went wrong and what to do."""


@dataclass(frozen=True)
class AirflowConfig:
    """Where the Airflow API is and how to log in (from Metaflow's config or a profile)."""

    url: str
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    token: Optional[str] = field(default=None, repr=False)
    dags_folder: Optional[str] = None
    # How long a call keeps trying while Airflow does not answer (a restarting api-server).
    retry_s: float = 90.0


def config_from_metaflow(env: Optional[Mapping[str, str]] = None) -> Optional[AirflowConfig]:
    """The Airflow settings of Metaflow's config (env or profile); None without a URL.

    ``env``: variables that override Metaflow's own, key by key (a Deployer's ``env_vars``)."""
    from metaflow.metaflow_config import from_conf

    def setting(*names: str) -> Optional[str]:
        for name in names:
            value = (env or {}).get("METAFLOW_" + name) or from_conf(name)
            if value:
                return str(value)
        return None

    url = setting("AIRFLOW_REST_API_URL")
    if not url:
        return None
    return AirflowConfig(
        url=url.rstrip("/"),
        # METAFLOW_AIRFLOW_USERNAME/_PASSWORD/_TOKEN; the ..._REST_API_... spellings also work.
        username=setting("AIRFLOW_USERNAME", "AIRFLOW_REST_API_USERNAME"),
        password=setting("AIRFLOW_PASSWORD", "AIRFLOW_REST_API_PASSWORD"),
        token=setting("AIRFLOW_TOKEN", "AIRFLOW_REST_API_TOKEN"),
        dags_folder=setting("AIRFLOW_DAGS_FOLDER"),
        retry_s=_seconds(setting("AIRFLOW_API_RETRY_SECONDS"), AirflowConfig.retry_s),
    )


def _seconds(value: Optional[str], default: float) -> float:
    """A number of seconds from a setting; the default when unset or not a number."""
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


def dags_folder_from_metaflow() -> Optional[str]:
    """`METAFLOW_AIRFLOW_DAGS_FOLDER` (env or profile), if set."""
    from metaflow.metaflow_config import from_conf

    return from_conf("AIRFLOW_DAGS_FOLDER") or None


def require_config() -> AirflowConfig:
    """The Airflow settings, or a clear error when no URL is configured."""
    config = config_from_metaflow()
    if config is None:
        raise AirflowError(
            "no Airflow to talk to: METAFLOW_AIRFLOW_REST_API_URL is not set",
            hint="start one with `mfairflow airflow up` and run the exports it prints, or set "
            "METAFLOW_AIRFLOW_REST_API_URL (and credentials) in your Metaflow profile",
        )
    return config


# Airflow's own rules: a DAG id is at most 250 letters, digits, '_', '.' and '-' (ASCII here:
# mfairflow writes no other); a run id given by a user matches Airflow's default
# `allowed_run_id_pattern` (scheduled and manual run ids do too) and fits its 250-character
# column.
DAG_ID = re.compile(r"[A-Za-z0-9_.-]{1,250}")
RUN_ID = re.compile(r"[A-Za-z0-9_.~:+-]{1,250}")


def shown(value: object) -> str:
    """A value for an error message: repr'd (no control character reaches the terminal) and
    cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def check_dag_id(dag_id: object) -> str:
    """``dag_id`` if it is a valid Airflow DAG id, else a clear AirflowError."""
    if not isinstance(dag_id, str) or not DAG_ID.fullmatch(dag_id):
        raise AirflowError(
            f"{shown(dag_id)} is not a valid Airflow DAG id",
            hint="a DAG id is 1 to 250 letters, digits, '_', '-' and '.'",
        )
    return dag_id


def check_run_id(run_id: object) -> str:
    """``run_id`` if it is a valid Airflow run id, else a clear AirflowError."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise AirflowError(
            f"{shown(run_id)} is not a valid Airflow run id",
            hint="give the Airflow run id (1 to 250 letters, digits and '_.~:+-') or the "
            "Metaflow run id (airflow-...)",
        )
    return run_id


def segment(value: str) -> str:
    """One path segment of a URL: every reserved character quoted, and a segment of dots only
    (which an HTTP client resolves as "this" or "the parent" folder) written as %2E."""
    from urllib.parse import quote

    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if set(value) <= {"."} else quoted


def parse_time(value: Optional[str]) -> Optional[float]:
    """An Airflow ISO timestamp as POSIX seconds (None stays None)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class AirflowClient:
    """The dozen Airflow endpoints mfairflow needs, on either API version."""

    def __init__(
        self, config: AirflowConfig, timeout: float = 120.0, retry_s: Optional[float] = None
    ) -> None:
        import httpx

        self.config = config
        self.retry_s = config.retry_s if retry_s is None else retry_s
        self._http = httpx.Client(timeout=timeout)
        self._bearer: Optional[str] = config.token
        self.api_version = self._detect_version()

    # -- connection ------------------------------------------------------------------------
    def _detect_version(self) -> str:
        """ "v2" for Airflow 3, "v1" for Airflow 2: ask the (public) health endpoints."""
        for version in ("v2", "v1"):
            response = self._raw(
                "GET", f"/api/{version}/monitor/health" if version == "v2" else "/api/v1/health"
            )
            if response.status_code == 200:
                return version
        raise AirflowError(
            f"{self.config.url} does not answer like an Airflow API server "
            f"(HTTP {response.status_code} on its health endpoints)",
            hint="check METAFLOW_AIRFLOW_REST_API_URL: the address of the api-server (Airflow 3) "
            "or webserver (Airflow 2), e.g. http://127.0.0.1:8080",
        )

    def _raw(self, method: str, path: str, **kwargs: Any):
        import httpx

        # Airflow may be restarting (connection refused, reset, 502/503) or loaded (one SQLite
        # writer, 2 cores: timeouts, 500 "database is locked"): a call keeps trying, with a
        # growing pause, for retry_s seconds, then fails clearly. A request that may have
        # reached Airflow is repeated only when it changes nothing (GET); any request whose
        # connection was refused never reached it.
        deadline = time.monotonic() + self.retry_s
        pause = 1.0
        failure: Exception = RuntimeError("no attempt")
        answered = None  # the last 5xx answer, returned if the retries run out
        while True:
            try:
                response = self._http.request(method, self.config.url + path, **kwargs)
            except httpx.ConnectError as exc:
                failure = exc
            except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                failure = exc
                if method != "GET":
                    break
            except httpx.HTTPError as exc:
                failure = exc
                break
            else:
                if response.status_code not in RETRIED_STATUS or method != "GET":
                    return response
                answered = response
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if answered is not None:
                    return answered
                break
            time.sleep(min(pause, remaining))  # and once more at the deadline
            pause = min(pause * 2, 10.0)
        waited = f"; tried for {self.retry_s:.0f} s" if self.retry_s >= 1 else ""
        raise AirflowError(
            f"cannot reach Airflow at {self.config.url} ({type(failure).__name__}: "
            f"{failure}{waited})",
            hint="is Airflow running? (`mfairflow airflow status`); check "
            "METAFLOW_AIRFLOW_REST_API_URL; METAFLOW_AIRFLOW_API_RETRY_SECONDS sets how long "
            "a call waits for a restarting Airflow",
        ) from None

    def _login(self) -> None:
        if not (self.config.username and self.config.password):
            raise AirflowError(
                "Airflow asks for credentials and none are configured",
                hint="set METAFLOW_AIRFLOW_USERNAME and "
                "METAFLOW_AIRFLOW_PASSWORD (or METAFLOW_AIRFLOW_TOKEN)",
            )
        response = self._raw(
            "POST",
            "/auth/token",
            json={"username": self.config.username, "password": self.config.password},
        )
        if response.status_code not in (200, 201):
            raise AirflowError(
                f"Airflow refused the login of user {self.config.username!r} "
                f"(HTTP {response.status_code})",
                hint="check METAFLOW_AIRFLOW_USERNAME / _PASSWORD",
            )
        self._bearer = response.json()["access_token"]

    def request(self, method: str, path: str, ok: tuple = (200,), **kwargs: Any):
        """One API call (path below /api/vN); returns the response if its status is in ``ok``."""
        url = f"/api/{self.api_version}{path}"
        extra_headers = kwargs.pop("headers", {})
        if self.api_version == "v1":
            auth = (self.config.username or "", self.config.password or "")
            response = self._raw(method, url, auth=auth, headers=extra_headers, **kwargs)
        else:
            if self._bearer is None:
                self._login()
            response = self._raw(method, url, headers=self._headers(extra_headers), **kwargs)
            # An expired token, or one signed before the api-server restarted: Airflow 3
            # answers 403 ("Invalid JWT token") as well as 401. Log in again, once.
            if response.status_code in (401, 403) and self.config.username:
                self._login()
                response = self._raw(method, url, headers=self._headers(extra_headers), **kwargs)
        if response.status_code in (401, 403):
            raise AirflowError(
                f"Airflow refused the credentials (HTTP {response.status_code} on {path})",
                hint="check METAFLOW_AIRFLOW_USERNAME / _PASSWORD / _TOKEN",
            )
        if response.status_code not in ok:
            raise AirflowError(
                f"Airflow answered HTTP {response.status_code} to {method} {path}: "
                f"{_detail(response)}",
                hint="see the message above; `mfairflow airflow status` shows the local Airflow",
            )
        return response

    def _headers(self, extra: Optional[dict] = None) -> dict:
        return {**(extra or {}), "Authorization": f"Bearer {self._bearer}"}

    # -- DAGs ------------------------------------------------------------------------------
    def get_dag(self, dag_id: str) -> Optional[dict]:
        """The DAG as Airflow knows it, or None if it has not parsed it (404)."""
        response = self.request("GET", f"/dags/{_dag(dag_id)}", ok=(200, 404))
        return response.json() if response.status_code == 200 else None

    def dag_details(self, dag_id: str) -> dict:
        """The DAG's details (params, tags, file location)."""
        return self.request("GET", f"/dags/{_dag(dag_id)}/details").json()

    def dag_source(self, dag_id: str) -> str:
        """The DAG file's source as Airflow stored it."""
        if self.api_version == "v2":
            response = self.request(
                "GET", f"/dagSources/{_dag(dag_id)}", headers={"Accept": "application/json"}
            )
        else:
            token = self.dag_details(dag_id)["file_token"]
            response = self.request(
                "GET", f"/dagSources/{segment(str(token))}", headers={"Accept": "application/json"}
            )
        return response.json()["content"]

    def list_dags(self) -> list:
        """Every DAG Airflow knows (all pages)."""
        dags: list = []
        while True:
            page = self.request("GET", "/dags", params={"limit": 100, "offset": len(dags)}).json()
            dags += page["dags"]
            if not page["dags"] or len(dags) >= page.get("total_entries", 0):
                return dags

    def set_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or unpause the DAG."""
        self.request(
            "PATCH",
            f"/dags/{_dag(dag_id)}",
            params={"update_mask": "is_paused"},
            json={"is_paused": paused},
        )

    def delete_dag(self, dag_id: str) -> None:
        """Delete the DAG and its history from Airflow's database."""
        self.request("DELETE", f"/dags/{_dag(dag_id)}", ok=(200, 204, 404))

    def import_errors(self) -> list:
        """Airflow's import errors: dicts with ``filename`` and ``stack_trace``."""
        body = self.request("GET", "/importErrors", params={"limit": 1000}).json()
        return body.get("import_errors", [])

    # -- runs ------------------------------------------------------------------------------
    def trigger(self, dag_id: str, run_id: str, conf: dict):
        """Post a DAG run; returns the response (409: run id exists, 400: bad conf)."""
        path = f"/dags/{_dag(dag_id)}/dagRuns"
        body: dict = {"dag_run_id": check_run_id(run_id), "conf": conf}
        if self.api_version == "v2":
            body["logical_date"] = None
        for attempt in range(6):
            response = self.request("POST", path, ok=(200, 400, 409, 422, 500), json=body)
            # Airflow on SQLite answers 500 ("database is locked") under concurrent writes;
            # the transaction was rolled back, so posting the same run id again is safe.
            if response.status_code != 500 or attempt == 5:
                break
            time.sleep(1 + attempt)
        if response.status_code == 500:
            raise AirflowError(
                f"Airflow answered HTTP 500 to POST {path}: {_detail(response)}",
                hint="see the api-server's log",
            )
        return response

    def get_run(self, dag_id: str, run_id: str) -> Optional[dict]:
        """One DAG run, or None if Airflow does not know it."""
        path = f"/dags/{_dag(dag_id)}/dagRuns/{_run(run_id)}"
        response = self.request("GET", path, ok=(200, 404))
        return response.json() if response.status_code == 200 else None

    def list_runs(self, dag_id: str) -> list:
        """The DAG's runs, newest first (at most 100)."""
        params = {"limit": 100, "order_by": "-start_date"}
        path = f"/dags/{_dag(dag_id)}/dagRuns"
        return self.request("GET", path, params=params).json()["dag_runs"]

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> None:
        """Mark a run failed (terminate) or success."""
        path = f"/dags/{_dag(dag_id)}/dagRuns/{_run(run_id)}"
        self.request("PATCH", path, json={"state": state})

    # -- Assets (Datasets on Airflow 2) ------------------------------------------------------
    def publish_asset_event(self, name: str, extra: dict) -> dict:
        """Record an event of the Asset ``name`` (a Dataset's URI on Airflow 2) with ``extra``;
        Airflow then starts the DAGs scheduled on it. Returns the event as Airflow stored it."""
        if self.api_version == "v1":
            body = {"dataset_uri": name, "extra": extra}
            response = self.request("POST", "/datasets/events", ok=(200, 404), json=body)
        else:
            asset_id = self._asset_id(name)
            if asset_id is None:
                response = None
            else:
                body = {"asset_id": asset_id, "extra": extra}
                response = self.request("POST", "/assets/events", ok=(200, 404), json=body)
        if response is None or response.status_code == 404:
            raise AirflowError(
                f"Airflow knows no Asset {name!r}: no deployed DAG is triggered by it or "
                "announces it",
                hint="deploy the flow that has @trigger(event=...) with this name first "
                "(`airflow create`), and check the event name",
            )
        return response.json()

    def _asset_id(self, name: str) -> Optional[int]:
        params = {"name_pattern": name, "limit": 100}
        for asset in self.request("GET", "/assets", params=params).json().get("assets", []):
            if asset.get("name") == name:
                return asset["id"]
        return None


def _dag(dag_id: str) -> str:
    return segment(check_dag_id(dag_id))


def _run(run_id: str) -> str:
    return segment(check_run_id(run_id))


def _detail(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        detail = body.get("detail", body)
        return str(detail)[:2000]
    return str(body)[:2000]


def same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file (Airflow may report it relative to its bundle)."""
    if os.path.isabs(a) and os.path.isabs(b):
        return os.path.realpath(a) == os.path.realpath(b)
    return os.path.realpath(a).endswith(b) or os.path.realpath(b).endswith(a)
