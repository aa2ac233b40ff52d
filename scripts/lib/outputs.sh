# shellcheck shell=bash
# The one place the user scripts read the stack's outputs: `pulumi stack output --json
# --show-secrets` through the CLI that scripts/lib/pulumi.sh resolves, or, when
# GPU_NOTEBOOK_OUTPUTS_FILE names a JSON file of the same shape, that file (tests, offline use).
# The query program (scripts/lib/query.ts) reads them: what an earlier call kept while it is still
# current (so ssh, job, status... need no CLI), the notebook chosen in a fleet, presented under the
# names a single notebook's have, so the scripts read both shapes the same way.
# Values are kept in this shell only; secrets never reach a command line or a log.

# shellcheck source=scripts/lib/fleet.sh
. "${BASH_SOURCE[0]%/*}/fleet.sh"

# All of the stack's outputs (JSON).
GPU_NOTEBOOK_STACK_OUTPUTS=""
# The chosen notebook's outputs: names, and their values as text at the same index.
NOTEBOOK_OUTPUT_NAMES=()
NOTEBOOK_OUTPUT_TEXTS=()
# The notebook whose outputs those are: its name in a fleet, "" in single mode.
SELECTED_NOTEBOOK_NAME=""
# Whether they are loaded (select_notebook ran).
OUTPUTS_LOADED=no
# The secret outputs the answer left out (it came from the kept outputs, which hold no secret).
OUTPUTS_WITHHELD=""

# Reads the query program's answer to `outputs` (query.ts outputsAnswer) on stdin into the
# variables above; OUTPUTS_STATE is "outputs" or "stale" (then OUTPUTS_KEY: what to keep them
# under). Fails when the answer did not end, as when the program refused (it said why).
take_outputs() {
    local answer index
    read_fields
    answer=(${FIELDS[@]+"${FIELDS[@]}"})
    [ "${#answer[@]}" -ge 3 ] && [ "${answer[${#answer[@]}-1]}" = end ] || return 1
    OUTPUTS_STATE="${answer[0]}"
    GPU_NOTEBOOK_STACK="${answer[1]}"
    if [ "$OUTPUTS_STATE" = stale ]; then
        OUTPUTS_KEY="${answer[2]}"
        return 0
    fi
    GPU_NOTEBOOK_STACK_OUTPUTS="${answer[2]}"
    OUTPUTS_WITHHELD="${answer[3]}"
    if [ "${#answer[@]}" -gt 5 ]; then
        NOTEBOOK_OUTPUT_NAMES=() NOTEBOOK_OUTPUT_TEXTS=()
        for ((index = 4; index < ${#answer[@]} - 1; index += 2)); do
            NOTEBOOK_OUTPUT_NAMES+=("${answer[index]}")
            NOTEBOOK_OUTPUT_TEXTS+=("${answer[index + 1]}")
        done
        OUTPUTS_LOADED=yes
    fi
}

# query outputs with the stack's options (see query.ts outputsAnswer); stdin as given.
outputs_query() {
    query outputs --stack "$GPU_NOTEBOOK_STACK" --named "$STACK_CHOSEN" "$@"
}

# Reads the stack's outputs through the Pulumi CLI into GPU_NOTEBOOK_STACK_OUTPUTS. Read-only: it
# reads the stack by name, never logs in, selects or creates one. When there is nothing to read
# (no backend, no stack), it says so in one line that names npm run up, and fails.
outputs_from_cli() {
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
}

# Reads all of the stack's outputs, and with --notebook NAME --option FROM chooses that notebook
# ("" in single mode): from GPU_NOTEBOOK_OUTPUTS_FILE; else what an earlier call kept, while the
# stack's state is unchanged; else through the CLI, keeping them (but their secrets) for the next
# call. --secrets "NAME..." names the secret outputs the script reads: the kept outputs hold none,
# so for any but the login key of a .pem written from it, the CLI is asked (query.ts outputsAnswer).
# Fails saying why when there is nothing to read, no notebook deployed, or no such notebook.
read_outputs() {
    if [ -n "${GPU_NOTEBOOK_OUTPUTS_FILE:-}" ]; then
        [ -r "$GPU_NOTEBOOK_OUTPUTS_FILE" ] || {
            echo "gpu-notebook: GPU_NOTEBOOK_OUTPUTS_FILE=$GPU_NOTEBOOK_OUTPUTS_FILE cannot be read" >&2
            return 1
        }
        take_outputs < <(outputs_query --from stdin "$@" <"$GPU_NOTEBOOK_OUTPUTS_FILE")
        return
    fi
    take_outputs < <(outputs_query --from cache "$@" </dev/null) || return 1
    [ "$OUTPUTS_STATE" = stale ] || return 0
    local key="$OUTPUTS_KEY"
    outputs_from_cli || return 1
    # Kept only when the CLI read the stack and backend the key is for.
    take_outputs < <(printf '%s' "$GPU_NOTEBOOK_STACK_OUTPUTS" |
        outputs_query --from stdin ${key:+--remember "$key" --backend "$BACKEND_URL"} "$@")
}

# Makes notebook $1 ("" in single mode) the one stack_output reads; fails, listing the
# notebooks, when the stack has no such notebook or needs a name. Needs read_outputs.
# shellcheck disable=SC2034 # SELECTED_NOTEBOOK_NAME is read by connect.sh
select_notebook() {
    take_outputs < <(printf '%s' "$GPU_NOTEBOOK_STACK_OUTPUTS" |
        outputs_query --from stdin --notebook "$1" --option "$GPU_NOTEBOOK_NAME_FROM") || return 1
    SELECTED_NOTEBOOK_NAME="$1"
}

# Reads the outputs of the notebook the user chose (--notebook, GPU_NOTEBOOK_NAME; none in single
# mode): one question to the program, and on a command's usual path no Pulumi CLI. Arguments: the
# secret outputs the script reads besides the login key (which prepare_ssh reads), such as
# notebookPassword: each of those is a question for the CLI.
# shellcheck disable=SC2034,SC2120 # SELECTED_NOTEBOOK_NAME is read by connect.sh; most scripts read no other secret
load_outputs() {
    read_outputs --notebook "$GPU_NOTEBOOK_NAME" --option "$GPU_NOTEBOOK_NAME_FROM" --secrets "sshPrivateKey${*:+ $*}" || return 1
    SELECTED_NOTEBOOK_NAME="$GPU_NOTEBOOK_NAME"
}

# The fleet's notebook names, one a line (none in single mode). Needs read_outputs.
output_notebook_names() {
    printf '%s' "$GPU_NOTEBOOK_STACK_OUTPUTS" | query names
}

# Prints one output's value (strings as they are, anything else as JSON). Fails, naming the
# output, when the stack does not have it.
stack_output() {
    [ "$OUTPUTS_LOADED" = yes ] || {
        # Loading here would happen in the caller's $(...) subshell, once per value: load once.
        echo "gpu-notebook: load_outputs must run before stack_output" >&2
        return 1
    }
    local index
    for index in "${!NOTEBOOK_OUTPUT_NAMES[@]}"; do
        if [ "${NOTEBOOK_OUTPUT_NAMES[index]}" = "$1" ]; then
            printf '%s' "${NOTEBOOK_OUTPUT_TEXTS[index]}"
            return 0
        fi
    done
    if [[ " $OUTPUTS_WITHHELD " == *" $1 "* ]]; then
        # A script's own mistake, never the stack's: say which, not "run npm run up".
        echo "gpu-notebook: $1 is a secret output, which the kept outputs leave out; this script must name it to load_outputs" >&2
        return 1
    fi
    query missing-output "$1" "$SELECTED_NOTEBOOK_NAME"
    return 1
}

# Reads several outputs into the array OUTPUT_VALUES, in the order asked; fails, naming the
# output, when the stack does not have one of them.
stack_output_values() {
    OUTPUT_VALUES=()
    local name value
    for name in "$@"; do
        value="$(stack_output "$name")" || return 1
        OUTPUT_VALUES+=("$value")
    done
}
