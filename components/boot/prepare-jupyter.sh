#!/bin/bash
# Every boot, run by gpu-notebook-bundle.service (gpu_notebook_boot.py): finds the AMI's Python environment, installs JupyterLab into it
# only when it is missing, points the service's launcher at it and starts the notebook service.
# It runs in a unit ordered before the notebook service, so it asks systemd to start the service
# without waiting for it (waiting would wait for itself).
# Usage: prepare-jupyter.sh USER NOTEBOOK_DIR LAUNCHER UNIT  (the paths and unit contract.ts defines)
set -euo pipefail

[ "$#" -eq 4 ] || { echo "usage: $0 USER NOTEBOOK_DIR LAUNCHER UNIT" >&2; exit 2; }
user="$1" notebooks="$2" launcher="$3" unit="$4"

# The Deep Learning AMIs keep PyTorch in /opt/pytorch; older ones used conda.
python=""
for candidate in /opt/pytorch/bin/python /opt/conda/envs/pytorch/bin/python /opt/conda/bin/python; do
    if [ -x "$candidate" ]; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    echo "gpu-notebook: no Deep Learning AMI Python found; using a virtual environment of the system Python"
    [ -x /opt/gpu-notebook-venv/bin/python ] || python3 -m venv /opt/gpu-notebook-venv
    python=/opt/gpu-notebook-venv/bin/python
fi
bindir=$(dirname "$python")

if "$python" -c 'import jupyterlab' 2>/dev/null; then
    echo "gpu-notebook: JupyterLab found in $bindir, nothing to install"
else
    echo "gpu-notebook: JupyterLab missing from $bindir, installing it"
    "$python" -m pip install --quiet jupyterlab
fi

install -d -m 0755 "$(dirname "$launcher")"
ln -sfn "$bindir/jupyter-lab" "$launcher"
install -d -o "$user" -g "$user" -m 0750 "$notebooks"

systemctl daemon-reload
systemctl enable "$unit"
systemctl start --no-block "$unit"
echo "gpu-notebook: notebook service starting for $user in $notebooks"
