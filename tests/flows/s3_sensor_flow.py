from metaflow import FlowSpec, airflow_s3_key_sensor, step


@airflow_s3_key_sensor(
    bucket_key="s3://my-bucket/data/*.csv",
    wildcard_match=True,
    timeout=3600,
    poke_interval=60,
)
class S3SensorFlow(FlowSpec):
    @step
    def start(self):
        # Starts after S3 key is available
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    S3SensorFlow()
