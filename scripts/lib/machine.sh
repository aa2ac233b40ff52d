# shellcheck shell=bash
# shellcheck disable=SC2034 # read by the scripts that source it
# GENERATED from components/contract.ts (machineShell) by test/contract.test.ts with
# GPU_NOTEBOOK_RECORD=1; do not edit: change the contract and regenerate.
MACHINE_FILE=/etc/gpu-notebook/machine.json # the contract as the machine reads it
JOB_RUNNER_PATH=/usr/local/lib/gpu-notebook/gpu-notebook-job # the job runner
BOOT_MODULE_PATH=/usr/local/lib/gpu-notebook/gpu_notebook_boot.py # installs the boot bundle
BUNDLE_FETCH_OPTIONS=(--tag gpuNotebookBundle --state-dir /var/lib/gpu-notebook --failed-marker /var/lib/gpu-notebook/bundle-failed --attempts 12 --first-delay 2 --max-delay 60) # how it fetches one, as the bundle unit runs it (an array)
BUNDLE_FAILED_FILE=/var/lib/gpu-notebook/bundle-failed # present when the bundle fetch gave up
UPDATE_PENDING_FILE=/run/gpu-notebook-update-pending # present when an update waits for a restart
MACHINE_SSH_PORT=22 # sshd's port
TUNNEL_HOST=127.0.0.1 # the tunnel's local address
IDLE_ACTIVITY='a job running, a Jupyter kernel busy or recently used, the GPU busy, an SSH connection in use, or the notebook user'\''s processes using CPU' # what keeps the machine from idle stop
PULUMI_CLI_VARIABLE=GPU_NOTEBOOK_PULUMI_CLI # where the scripts tell the program which Pulumi CLI they run
NO_CAPACITY_VAR=GPU_NOTEBOOK_NO_CAPACITY # names the candidates EC2 said are full, for the program
START_TYPE_VAR=GPU_NOTEBOOK_START_TYPE # names npm run start --type, for the program
START_MARKET_VAR=GPU_NOTEBOOK_START_MARKET # names npm run start --on-demand, for the program
RUN_STARTED_VAR=GPU_NOTEBOOK_RUN_STARTED # names when the driver began, for the program
