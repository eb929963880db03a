from datetime import timedelta

from metaflow import FlowSpec, airflow_external_task_sensor, airflow_s3_key_sensor, step


@airflow_s3_key_sensor(
    name="wait_for_orders",
    bucket_key="s3://shop-bucket/orders/_SUCCESS",
    timeout=1800,
    poke_interval=30,
    description="Orders export is complete",
)
@airflow_s3_key_sensor(
    name="wait_for_prices",
    bucket_key="prices/latest.csv",
    bucket_name="shop-prices",
    aws_conn_id="aws_prices",
    mode="reschedule",
)
@airflow_external_task_sensor(
    name="wait_for_ingest",
    external_dag_id="ingest_dag",
    external_task_ids=["load"],
    failed_states=["failed", "upstream_failed"],
    execution_delta=timedelta(minutes=30),
)
@airflow_external_task_sensor(
    name="wait_for_upstream_dag",
    external_dag_id="upstream_dag",
    check_existence=False,
    timeout=600,
)
class MultiSensorFlow(FlowSpec):
    """Four sensors, two of each kind, all in front of start."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MultiSensorFlow()
