"""Print where each task of one Metaflow run read its inputs from, as JSON.

Usage: python metaflow_lineage_probe.py NAMESPACE|- FLOW RUN_ID
Each task is named by its step and foreach stack (task ids differ between a local run and an
Airflow run), and so is each of its parent tasks, in the order Metaflow lists them.
"""

import json
import sys

from metaflow import Run, namespace


def stack_of(task) -> list:
    try:
        return [frame.index for frame in task["_foreach_stack"].data]
    except KeyError:
        return []


def lineage_of(run) -> dict:
    """step → sorted [foreach stack, sorted parents] of one run, as this script prints it."""
    lineage = {}
    for step in run:
        tasks = []
        for task in step:
            parents = [
                (parent.path_components[2], stack_of(parent)) for parent in task.parent_tasks
            ]
            tasks.append([stack_of(task), sorted(parents)])
        lineage[step.id] = sorted(tasks)
    return lineage


def main() -> None:
    ns, flow, run_id = sys.argv[1:4]
    namespace(None if ns == "-" else ns)
    print(json.dumps(lineage_of(Run(f"{flow}/{run_id}")), sort_keys=True))


if __name__ == "__main__":
    main()
