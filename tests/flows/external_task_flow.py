from datetime import timedelta

from metaflow import FlowSpec, airflow_external_task_sensor, step


@airflow_external_task_sensor(
    external_dag_id="upstream_dag",
    external_task_ids=["task1", "task2"],
    allowed_states=["success"],
    execution_delta=timedelta(hours=1),
)
class ExternalTaskFlow(FlowSpec):
    @step
    def start(self):
        # Starts after external tasks complete
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ExternalTaskFlow()
