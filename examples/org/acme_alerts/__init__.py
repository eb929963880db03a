"""Acme's failure callback (an example; a real one would page someone)."""


def notify_failure(context):
    """Called by Airflow when a task of an Acme DAG fails."""
    task = context.get("task_instance")
    print(f"ALERT: {getattr(task, 'task_id', '?')} failed")
