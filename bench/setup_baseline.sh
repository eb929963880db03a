#!/usr/bin/env bash
# Build bench/.venv-baseline: Metaflow's own `airflow create` (no mfairflow) with Airflow 2.10 and
# the last cncf-kubernetes provider that Metaflow's generated DAGs still load with; the amazon
# provider for the S3 key sensor; moto for the S3 stand-in; matplotlib for bench/scaling.png.
# Idempotent: the marker file records the requirements it was built with.
# Usage: bench/setup_baseline.sh [PYTHON]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv-baseline"
MARKER="$VENV/.installed"
PYTHON="${1:-${PYTHON:-python3}}"
REQUIREMENTS=(
    'metaflow==2.19.39'
    'apache-airflow==2.10.5'
    'apache-airflow-providers-cncf-kubernetes==10.4.0'
    'apache-airflow-providers-amazon'
    'boto3'
    'moto[server]'
    'matplotlib'
)
WANTED="${REQUIREMENTS[*]}"

if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANTED" ]]; then
    exit 0
fi

echo "bench: building the baseline virtualenv $VENV (2-3 minutes, once)" >&2
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
# pip warns about every local index folder a package is missing from: keep only the rest.
quiet_pip() { "$VENV/bin/pip" "$@" 2> >(grep -v 'is ignored: it is neither' >&2); }
quiet_pip install -q --upgrade pip
quiet_pip install -q "${REQUIREMENTS[@]}"

# The baseline must run Metaflow's own compiler: mfairflow (its Metaflow extension) must be absent.
if "$VENV/bin/python" -c 'import mfairflow' 2>/dev/null; then
    echo "bench: mfairflow is importable in $VENV; the baseline would not be Metaflow's" >&2
    exit 1
fi
echo "$WANTED" > "$MARKER"
