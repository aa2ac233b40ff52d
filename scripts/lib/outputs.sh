# shellcheck shell=bash
# The one place the user scripts read the stack's outputs: `pulumi stack output --json
# --show-secrets` through the CLI that scripts/lib/pulumi.sh resolves, or, when
# GPU_NOTEBOOK_OUTPUTS_FILE names a JSON file of the same shape, that file (tests, offline use).
# In a fleet it presents the chosen notebook's outputs (scripts/lib/fleet.sh) under the names a
# single notebook's have, so the scripts read both shapes the same way.
# Values are kept in this shell only; secrets never reach a command line or a log.

# shellcheck source=scripts/lib/fleet.sh
. "$(dirname "${BASH_SOURCE[0]}")/fleet.sh"

# All of the stack's outputs, and those of the chosen notebook (the same in single mode).
GPU_NOTEBOOK_STACK_OUTPUTS=""
GPU_NOTEBOOK_OUTPUTS=""
# The notebook whose outputs GPU_NOTEBOOK_OUTPUTS holds: its name in a fleet, "" in single mode.
SELECTED_NOTEBOOK_NAME=""

# Reads all of the stack's outputs. Read-only: it reads the stack by name, never logs in, selects
# or creates one. When there is nothing to read (no backend, no stack, nothing deployed), it says
# so in one line that names npm run up, and fails.
read_outputs() {
    if [ -n "${GPU_NOTEBOOK_OUTPUTS_FILE:-}" ]; then
        [ -r "$GPU_NOTEBOOK_OUTPUTS_FILE" ] || {
            echo "gpu-notebook: GPU_NOTEBOOK_OUTPUTS_FILE=$GPU_NOTEBOOK_OUTPUTS_FILE cannot be read" >&2
            return 1
        }
        GPU_NOTEBOOK_STACK_OUTPUTS="$(cat "$GPU_NOTEBOOK_OUTPUTS_FILE")"
    else
        require_backend || return 1
        local errors
        errors="$(mktemp)"
        GPU_NOTEBOOK_STACK_OUTPUTS="$(pulumi_cli stack output --json --show-secrets --stack "$GPU_NOTEBOOK_STACK" 2>"$errors")" || {
            if grep -q "no stack named" "$errors"; then
                echo "gpu-notebook: there is no stack $GPU_NOTEBOOK_STACK in your Pulumi backend: create the notebook with npm run up" \
                    "(or name another stack with GPU_NOTEBOOK_STACK)" >&2
            elif passphrase_trouble "$(cat "$errors")"; then
                :
            else
                cat "$errors" >&2
                echo "gpu-notebook: could not read the outputs of stack $GPU_NOTEBOOK_STACK (see above; has npm run up run?)" >&2
            fi
            rm -f "$errors"
            return 1
        }
        rm -f "$errors"
    fi
    if [ -z "${GPU_NOTEBOOK_STACK_OUTPUTS//[[:space:]]/}" ] || [ "${GPU_NOTEBOOK_STACK_OUTPUTS//[[:space:]]/}" = "{}" ]; then
        echo "gpu-notebook: stack $GPU_NOTEBOOK_STACK has no notebook deployed (it has no outputs): create it with npm run up" >&2
        return 1
    fi
}

# Makes notebook $1 ("" in single mode) the one stack_output reads; fails, listing the
# notebooks, when the stack has no such notebook or needs a name. Needs read_outputs.
# shellcheck disable=SC2034 # SELECTED_NOTEBOOK_NAME is read by connect.sh
select_notebook() {
    GPU_NOTEBOOK_OUTPUTS="$(printf '%s' "$GPU_NOTEBOOK_STACK_OUTPUTS" | stack_output_js --select "$1" \
        "$GPU_NOTEBOOK_NAME_FROM" "$GPU_NOTEBOOK_STACK")" || return 1
    SELECTED_NOTEBOOK_NAME="$1"
}

# Reads the outputs of the notebook the user chose (--notebook, GPU_NOTEBOOK_NAME; none in single mode).
load_outputs() {
    read_outputs && select_notebook "$GPU_NOTEBOOK_NAME"
}

# The fleet's notebook names, one a line (none in single mode). Needs read_outputs.
output_notebook_names() {
    printf '%s' "$GPU_NOTEBOOK_STACK_OUTPUTS" | stack_output_js --names
}

# Prints one output's value (strings as they are, anything else as JSON). Fails, naming the
# output, when the stack does not have it.
stack_output() {
    [ -n "$GPU_NOTEBOOK_OUTPUTS" ] || {
        # Loading here would happen in the caller's $(...) subshell, once per value: load once.
        echo "gpu-notebook: load_outputs must run before stack_output" >&2
        return 1
    }
    printf '%s' "$GPU_NOTEBOOK_OUTPUTS" | stack_output_js "$1"
}

# Reads several outputs in one go into the array OUTPUT_VALUES, in the order asked; fails, naming
# the output, when the stack does not have one of them.
stack_output_values() {
    OUTPUT_VALUES=()
    local value
    while IFS= read -r -d '' value; do
        OUTPUT_VALUES+=("$value")
    done < <(printf '%s' "$GPU_NOTEBOOK_OUTPUTS" | stack_output_js --values "$@")
    [ "${#OUTPUT_VALUES[@]}" -eq $# ]
}

stack_output_js() {
    node "$(dirname "${BASH_SOURCE[0]}")/stack-output.js" "$@"
}
