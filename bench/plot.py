"""Draw bench/scaling.png from bench/out/results.json (needs matplotlib).

Usage: python plot.py RESULTS_JSON [PNG]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
LINEAR = ["linear_3", "linear_200", "linear_1000"]

GENERATION = [
    ("ours", "ours (--offline)", "tab:blue", "-"),
    ("ours_s3", "ours (S3 upload)", "tab:blue", "--"),
    ("theirs", "Metaflow (S3 upload)", "tab:red", "-"),
    ("check_theirs", "floor: Metaflow's `flow.py check`", "tab:gray", ":"),
]
PARSE = [
    ("ours_af2", "ours, Airflow 2.10", "tab:blue", "-"),
    ("ours_af3", "ours, Airflow 3", "tab:cyan", "--"),
    ("theirs_af2", "Metaflow, Airflow 2.10", "tab:red", "-"),
]
SIZE = [
    ("ours", "ours", "tab:blue", "-"),
    ("theirs", "Metaflow", "tab:red", "-"),
]


def points(flows: dict, get) -> tuple[list, list]:
    xs, ys = [], []
    for name in LINEAR:
        if name in flows:
            value = get(flows[name])
            if value is not None:
                xs.append(flows[name]["steps"])
                ys.append(value)
    return xs, ys


def main(argv: list[str]) -> int:
    results = json.loads(Path(argv[1]).read_text())
    png = Path(argv[2]) if len(argv) > 2 else HERE / "scaling.png"
    flows = results["flows"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    panels = [
        (
            axes[0],
            GENERATION,
            lambda key: lambda f: f["create"].get(key, {}).get("wall_median"),
            "generation: `airflow create` wall time (s)",
        ),
        (
            axes[1],
            PARSE,
            lambda key: lambda f: f["parse"][key].get("warm_median_s"),
            "parse: warm DagBag load (s)",
        ),
        (
            axes[2],
            SIZE,
            lambda key: lambda f: (f["size"][key]["bytes"] or 0) / 1e6 or None,
            "size of the DAG file (MB)",
        ),
    ]
    for ax, series, getter, title in panels:
        for key, label, color, style in series:
            xs, ys = points(flows, getter(key))
            if xs:
                ax.plot(xs, ys, style, marker="o", color=color, label=label)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("steps (linear flow)")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9)
    fig.suptitle(
        f"mfairflow vs Metaflow's airflow create — medians of {results['runs']} runs, "
        f"{results['machine']['cores']} cores",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
