"""The user guide's complete production flow (sensor, schedule, foreach, GPUs, retries)."""

from datetime import datetime

from metaflow import (
    FlowSpec,
    Parameter,
    airflow_s3_key_sensor,
    kubernetes,
    retry,
    schedule,
    step,
    timeout,
)


def load_data(run_date):
    return run_date


def train(data, split_id, model_type):
    return (data, split_id, model_type)


def evaluate(model):
    return {"accuracy": 0.5}


def deploy_model(model, run_date):
    return None


@airflow_s3_key_sensor(
    bucket_key="s3://data-bucket/input/*.parquet", wildcard_match=True, timeout=7200
)
@schedule(cron="0 2 * * *")  # Daily at 2 AM
class ProductionMLFlow(FlowSpec):
    model_type = Parameter("model_type", default="xgboost", help="Model type to train")

    @step
    def start(self):
        """Initialize workflow"""
        self.run_date = datetime.now().strftime("%Y-%m-%d")
        self.next(self.load_data)

    @kubernetes(cpu=4, memory=16384)
    @retry(times=3, minutes_between_retries=5)
    @timeout(seconds=3600)
    @step
    def load_data(self):
        """Load and preprocess data"""
        self.data = load_data(self.run_date)
        self.splits = list(range(10))
        self.next(self.train_model, foreach="splits")

    @kubernetes(cpu=8, memory=32768, gpu=1, gpu_vendor="nvidia")
    @retry(times=2)
    @timeout(seconds=7200)
    @step
    def train_model(self):
        """Train model on data split"""
        split_id = self.input
        self.model = train(self.data, split_id, self.model_type)
        self.metrics = evaluate(self.model)
        self.next(self.join_models)

    @step
    def join_models(self, inputs):
        """Select best model"""
        self.all_metrics = [inp.metrics for inp in inputs]
        best_idx = max(range(len(inputs)), key=lambda i: inputs[i].metrics["accuracy"])
        self.best_model = inputs[best_idx].model
        self.next(self.deploy)

    @kubernetes(cpu=2, memory=8192)
    @step
    def deploy(self):
        """Deploy best model"""
        deploy_model(self.best_model, self.run_date)
        self.next(self.end)

    @step
    def end(self):
        """Workflow complete"""
        print(f"Deployed model for {self.run_date}")


if __name__ == "__main__":
    ProductionMLFlow()
