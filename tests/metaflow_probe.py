"""Print one Metaflow run as JSON: its steps, tasks (by split index) and user artifacts.

Usage: python metaflow_probe.py NAMESPACE|- FLOW [RUN_ID]   (latest run when RUN_ID is omitted)
Run it in the flow's folder, so that the local metadata and datastore are found.
"""

import json
import sys

from metaflow import Flow, Run, namespace


def describe(run) -> dict:
    """One run as the JSON-ready dict this script prints."""
    steps = {}
    for step in run:
        tasks = []
        for task in step:
            artifacts = {
                art.id: repr(art.data)
                for art in task
                if not art.id.startswith("_") and art.id != "name"
            }
            try:  # split indices from the outermost foreach inwards
                stack = [frame.index for frame in task["_foreach_stack"].data]
            except KeyError:
                stack = []
            tasks.append(
                {"index": task.index, "stack": stack, "id": task.id, "artifacts": artifacts}
            )
        tasks.sort(key=lambda t: t["stack"])
        steps[step.id] = tasks
    return {
        "pathspec": run.pathspec,
        "successful": run.successful,
        "finished": run.finished,
        "user_tags": sorted(run.user_tags),
        "system_tags": sorted(run.system_tags),
        "steps": steps,
    }


def main() -> None:
    ns, flow = sys.argv[1], sys.argv[2]
    namespace(None if ns == "-" else ns)
    run = Run(f"{flow}/{sys.argv[3]}") if len(sys.argv) > 3 else Flow(flow).latest_run
    print(json.dumps(describe(run), sort_keys=True))


if __name__ == "__main__":
    main()
