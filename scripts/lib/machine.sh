# shellcheck shell=bash
# shellcheck disable=SC2034 # read by the scripts that source it
# GENERATED from components/contract.ts (machineShell) by test/contract.test.ts with
# GPU_NOTEBOOK_RECORD=1; do not edit: change the contract and regenerate.
MACHINE_FILE=/etc/gpu-notebook/machine.json # the contract as the machine reads it
JOB_RUNNER_PATH=/usr/local/lib/gpu-notebook/gpu-notebook-job # the job runner
BOOT_MODULE_PATH=/usr/local/lib/gpu-notebook/gpu_notebook_boot.py # installs the boot bundle
BUNDLE_SERVICE_PATH=/etc/systemd/system/gpu-notebook-bundle.service # its unit, which holds the fetch options
BUNDLE_FAILED_FILE=/var/lib/gpu-notebook/bundle-failed # present when the bundle fetch gave up
UPDATE_PENDING_FILE=/run/gpu-notebook-update-pending # present when an update waits for a restart
SETUP_PROGRAM_PATH=/usr/local/lib/gpu-notebook/gpu-notebook-setup # runs the user's setup file
MACHINE_SSH_PORT=22 # sshd's port
TUNNEL_HOST=127.0.0.1 # the tunnel's local address
IDLE_ACTIVITY='a job running, a Jupyter kernel busy or recently used, the GPU busy, an SSH connection in use, or the notebook user'\''s processes using CPU' # what keeps the machine from idle stop
