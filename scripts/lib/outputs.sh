# shellcheck shell=bash
# The one place the user scripts read the stack's outputs: `pulumi stack output --json
# --show-secrets` through the CLI that scripts/lib/pulumi.sh resolves, or, when
# GPU_NOTEBOOK_OUTPUTS_FILE names a JSON file of the same shape, that file (tests, offline use).
# Values are kept in this shell only; secrets never reach a command line or a log.

# shellcheck source=scripts/lib/pulumi.sh
. "$(dirname "${BASH_SOURCE[0]}")/pulumi.sh"

GPU_NOTEBOOK_OUTPUTS=""

load_outputs() {
    if [ -n "${GPU_NOTEBOOK_OUTPUTS_FILE:-}" ]; then
        [ -r "$GPU_NOTEBOOK_OUTPUTS_FILE" ] || {
            echo "gpu-notebook: GPU_NOTEBOOK_OUTPUTS_FILE=$GPU_NOTEBOOK_OUTPUTS_FILE cannot be read" >&2
            return 1
        }
        GPU_NOTEBOOK_OUTPUTS="$(cat "$GPU_NOTEBOOK_OUTPUTS_FILE")"
        return 0
    fi
    # use_pulumi reports on stdout; keep stdout for the caller's own output. Once per script is enough.
    [ -n "${PULUMI_BIN:-}" ] || use_pulumi >&2 || return 1
    GPU_NOTEBOOK_OUTPUTS="$(pulumi_cli stack output --json --show-secrets --stack "$GPU_NOTEBOOK_STACK")" || {
        echo "gpu-notebook: could not read the outputs of stack $GPU_NOTEBOOK_STACK (has 'npm run up' run?)" >&2
        return 1
    }
}

# Prints one output's value (strings as they are, anything else as JSON). Fails, naming the
# output, when the stack does not have it.
stack_output() {
    outputs_loaded || return 1
    printf '%s' "$GPU_NOTEBOOK_OUTPUTS" | node "$(dirname "${BASH_SOURCE[0]}")/stack-output.js" "$1"
}

# Sets the caller's variables to several outputs at once (one node start instead of one per
# value): stack_outputs_into ip=publicIp user=sshUser ... Fails, naming the output, when the
# stack does not have one.
stack_outputs_into() {
    local assignment values=() value index=0
    outputs_loaded || return 1
    while IFS= read -r -d '' value; do
        # As $(stack_output ...) would: without trailing newlines.
        while [[ "$value" == *$'\n' ]]; do
            value="${value%$'\n'}"
        done
        values+=("$value")
    done < <(printf '%s' "$GPU_NOTEBOOK_OUTPUTS" | node "$(dirname "${BASH_SOURCE[0]}")/stack-output.js" --each "${@#*=}")
    [ "${#values[@]}" -eq $# ] || return 1
    for assignment in "$@"; do
        printf -v "${assignment%%=*}" '%s' "${values[$index]}"
        index=$((index + 1))
    done
}

outputs_loaded() {
    [ -n "$GPU_NOTEBOOK_OUTPUTS" ] || {
        # Loading here would happen in the caller's $(...) subshell, once per value: load once.
        echo "gpu-notebook: load_outputs must run before stack_output" >&2
        return 1
    }
}
