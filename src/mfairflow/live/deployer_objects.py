"""DeployedFlow and TriggeredRun of mfairflow's Airflow deployer (Metaflow's Deployer API).

create and trigger run the CLI (as Metaflow's Argo implementation does) and read the attribute
files it writes; status, terminate and delete talk to Airflow directly.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import ClassVar, Iterator, Optional

from metaflow.exception import MetaflowException
from metaflow.runner.deployer import DeployedFlow, TriggeredRun
from metaflow.runner.utils import get_lower_level_group, handle_timeout, temporary_fifo

from .client import AirflowClient, AirflowError, check_dag_id, config_from_metaflow
from .commands import find_run, metaflow_run_id, run_status, terminate
from .rebuild import Rebuilt, flow_file, flow_source, rebuild


def _client(env: Optional[dict] = None) -> AirflowClient:
    """A client from the deployer's environment, else Metaflow's config."""
    config = config_from_metaflow(env)
    if config is None:
        raise MetaflowException("METAFLOW_AIRFLOW_REST_API_URL is not set")
    try:
        return AirflowClient(config)
    except AirflowError as exc:
        raise MetaflowException(exc.render()) from None


class AirflowTriggeredRun(TriggeredRun):
    """A triggered DAG run; ``name`` is the DAG id."""

    def __init__(self, deployer, content: str) -> None:
        super().__init__(deployer=deployer, content=content)
        self.airflow_run_id = json.loads(content).get("airflow_run_id")

    def _run_ref(self) -> str:
        return self.airflow_run_id or self.pathspec.split("/")[-1]

    @property
    def status(self) -> Optional[str]:
        """Pending, Running, Succeeded or Failed (Airflow's run state); None if unknown."""
        try:
            return self._status()
        except MetaflowException:
            return None

    def _status(self) -> str:
        """The run's status; a MetaflowException saying why when Airflow cannot tell."""
        try:
            return run_status(_client(self.deployer.env_vars), self.name, self._run_ref())
        except AirflowError as exc:
            raise MetaflowException(exc.render()) from None

    @property
    def is_running(self) -> bool:
        """True while the run is Pending or Running."""
        return self.status in ("Pending", "Running")

    def wait_for_completion(self, check_interval: int = 5, timeout: Optional[int] = None) -> None:
        """Wait until the run ended; TimeoutError after ``timeout`` seconds.

        An Airflow that stops answering (an api-server restarting) is waited for as long as
        the client's retries last (METAFLOW_AIRFLOW_API_RETRY_SECONDS); then a
        MetaflowException says what failed, rather than returning as if the run had ended."""
        started = time.time()
        while self._status() in ("Pending", "Running"):
            if timeout is not None and time.time() - started > timeout:
                raise TimeoutError("Airflow run did not complete within the specified timeout.")
            time.sleep(check_interval)

    def terminate(self, **kwargs) -> bool:
        """End the run in Airflow (marked failed, its tasks stopped)."""
        terminate(_client(self.deployer.env_vars), self.name, self._run_ref())
        return True


class AirflowDeployedFlow(DeployedFlow):
    """A DAG deployed by mfairflow."""

    TYPE: ClassVar[Optional[str]] = "airflow"

    def trigger(self, **kwargs) -> AirflowTriggeredRun:
        """Trigger a run; keyword arguments are the flow's Parameters."""
        run = self._post_run("trigger", **kwargs)
        if run is None:
            raise RuntimeError(f"Error triggering {self.deployer.name} on Airflow")
        return run

    def resume(
        self, origin_run_id: str, step_to_rerun: Optional[str] = None, **kwargs
    ) -> AirflowTriggeredRun:
        """Resume a run on Airflow: a new DAG run copies the tasks that succeeded in the run
        ``origin_run_id`` (before ``step_to_rerun``, if given) and runs the rest; keyword
        arguments are Parameters for the steps that run again (the others keep the origin's).

        Raises MetaflowException with the reason when Airflow cannot resume that run (an
        unknown run, another flow's run, one still running)."""
        if step_to_rerun is not None:
            kwargs["step_to_rerun"] = step_to_rerun
        try:
            run = self._post_run("resume", origin_run_id=origin_run_id, **kwargs)
        except RuntimeError as exc:  # the command failed: its error and hint lines say why
            lines = [ln for ln in str(exc).splitlines() if ln.startswith(("error:", "hint:"))]
            raise MetaflowException("\n".join(lines) or str(exc)) from None
        if run is None:
            raise MetaflowException(f"Error resuming {self.deployer.name} on Airflow")
        return run

    def _post_run(self, action: str, **kwargs) -> Optional[AirflowTriggeredRun]:
        """Run `airflow trigger` or `airflow resume`: the run it posted (None if it failed)."""
        with temporary_fifo() as (attribute_file_path, attribute_file_fd):
            group = get_lower_level_group(
                self.deployer.api,
                self.deployer.top_level_kwargs,
                self.deployer.TYPE,
                self.deployer.deployer_kwargs,
            )
            command = getattr(group, action)(deployer_attribute_file=attribute_file_path, **kwargs)
            pid = self.deployer.spm.run_command(
                [sys.executable, *command],
                env=self.deployer.env_vars,
                cwd=self.deployer.cwd,
                show_output=self.deployer.show_output,
            )
            command_obj = self.deployer.spm.get(pid)
            content = handle_timeout(
                attribute_file_fd, command_obj, self.deployer.file_read_timeout
            )
            command_obj.sync_wait()
            if command_obj.process.returncode == 0:
                return AirflowTriggeredRun(deployer=self.deployer, content=content)
        return None

    def delete(self, **kwargs) -> bool:
        """Pause, end runs, remove the DAG file, delete the DAG in Airflow (`airflow delete`,
        with its checks: the file must be mfairflow's, another user's DAG needs
        ``authorize=TOKEN``). True if it was deleted."""
        command = get_lower_level_group(
            self.deployer.api,
            self.deployer.top_level_kwargs,
            self.deployer.TYPE,
            self.deployer.deployer_kwargs,
        ).delete(**kwargs)
        pid = self.deployer.spm.run_command(
            [sys.executable, *command],
            env=self.deployer.env_vars,
            cwd=self.deployer.cwd,
            show_output=self.deployer.show_output,
        )
        command_obj = self.deployer.spm.get(pid)
        command_obj.sync_wait()
        return command_obj.process.returncode == 0

    @classmethod
    def from_deployment(cls, identifier: str, metadata: Optional[str] = None):
        """Rebuild the deployment of DAG ``identifier`` from what Airflow shows of it (checked:
        see rebuild.py); a MetaflowException saying what is wrong otherwise."""
        try:
            check_dag_id(identifier)
            client = _client(dict(os.environ))
            if client.get_dag(identifier) is None:
                raise MetaflowException(f"No deployed flow found for: {identifier}")
            return cls._from_rebuilt(_read_deployment(client, identifier), metadata)
        except AirflowError as exc:
            raise MetaflowException(exc.render()) from None

    @classmethod
    def _from_rebuilt(cls, rebuilt: Rebuilt, metadata: Optional[str]):
        from metaflow import Deployer
        from metaflow.client.core import get_metadata

        handle = flow_file(flow_source(rebuilt))
        deployer = Deployer(handle.path).airflow(name=rebuilt.dag_id)
        deployer.mfairflow_flow_file = handle  # the file lives as long as the deployer
        deployer.name = rebuilt.dag_id
        deployer.flow_name = rebuilt.flow_name
        deployer.metadata = metadata if metadata is not None else get_metadata()
        deployer.additional_info = {}
        return cls(deployer=deployer)

    @classmethod
    def get_triggered_run(cls, identifier: str, run_id: str, metadata: Optional[str] = None):
        """The run ``run_id`` (Airflow or Metaflow run id) of DAG ``identifier``."""
        deployed = cls.from_deployment(identifier, metadata)
        try:
            found = find_run(_client(dict(os.environ)), identifier, run_id)
        except AirflowError as exc:
            raise MetaflowException(exc.render()) from None
        content = {
            "metadata": deployed.deployer.metadata,
            "pathspec": "/".join(
                (deployed.deployer.flow_name, metaflow_run_id(identifier, found["dag_run_id"]))
            ),
            "name": identifier,
            "airflow_run_id": found["dag_run_id"],
        }
        return AirflowTriggeredRun(deployer=deployed.deployer, content=json.dumps(content))

    @classmethod
    def list_deployed_flows(cls, flow_name: Optional[str] = None) -> Iterator[AirflowDeployedFlow]:
        """Every mfairflow DAG in Airflow (of ``flow_name`` only, if given); a DAG that does
        not check (not generated by mfairflow, a FLOW_NAME or parameter that is not a name)
        is skipped."""
        client = _client(dict(os.environ))
        try:
            dags = client.list_dags()
        except AirflowError as exc:
            raise MetaflowException(exc.render()) from None
        for dag in dags:
            try:
                rebuilt = _read_deployment(client, check_dag_id(dag.get("dag_id")))
                if flow_name is None or rebuilt.flow_name == flow_name:
                    deployed = cls._from_rebuilt(rebuilt, None)
                else:
                    continue
            except (AirflowError, MetaflowException):
                continue
            yield deployed


def _read_deployment(client: AirflowClient, dag_id: str) -> Rebuilt:
    """The deployment of ``dag_id`` from its source and params in Airflow, checked."""
    source = client.dag_source(dag_id)
    rebuild(dag_id, source, {})  # only an mfairflow DAG's details are worth reading
    return rebuild(dag_id, source, client.dag_details(dag_id).get("params"))
