"""Print, as JSON, the conf that `airflow resume` posts for a resume of one run.

Usage: python resume_plan_probe.py FLOW_FILE ORIGIN_RUN_ID [STEP] [--param NAME=JSON ...]
Run it with the flow's datastore settings (the plan is read from the datastore, as the CLI
reads it; no Airflow is asked).
"""

import importlib.util
import json
import sys

from metaflow import FlowSpec
from metaflow.datastore import FlowDataStore
from metaflow.metaflow_config import DEFAULT_DATASTORE
from metaflow.plugins import DATASTORES

from mfairflow.live.resume import plan_resume, resume_conf


def load_flow(path: str):
    spec = importlib.util.spec_from_file_location("probed_flow", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (cls,) = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, FlowSpec) and v is not FlowSpec
    ]
    return cls(use_cli=False)


def main(argv: list) -> None:
    params = {}
    while "--param" in argv:
        i = argv.index("--param")
        name, value = argv[i + 1].split("=", 1)
        params[name] = json.loads(value)
        del argv[i : i + 2]
    flow_file, origin, step = argv[0], argv[1], (argv[2] if len(argv) > 2 else None)
    flow = load_flow(flow_file)
    impl = next(d for d in DATASTORES if d.TYPE == DEFAULT_DATASTORE)
    root = impl.get_datastore_root_from_config(print)
    datastore = FlowDataStore(flow.name, None, storage_impl=impl, ds_root=root)
    print(json.dumps(resume_conf(plan_resume(datastore, flow, origin, step), params, step)))


if __name__ == "__main__":
    main(sys.argv[1:])
