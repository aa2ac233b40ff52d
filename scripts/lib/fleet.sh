# shellcheck shell=bash
# Which notebook of the stack a script works on, and the stack config it is set in. A stack with
# config `notebooks` (a fleet) has one notebook per entry, chosen with --notebook NAME or
# GPU_NOTEBOOK_NAME; a stack without it has one notebook and no names. Source it; it defines
# functions and changes nothing until they are called.

# shellcheck source=scripts/lib/common.sh
. "${BASH_SOURCE[0]%/*}/common.sh"
# shellcheck source=scripts/lib/pulumi.sh
. "${BASH_SOURCE[0]%/*}/pulumi.sh"
# shellcheck source=scripts/lib/query.sh
. "${BASH_SOURCE[0]%/*}/query.sh"

GPU_NOTEBOOK_NAME="${GPU_NOTEBOOK_NAME:-}"
# Where the name came from, for messages about it.
GPU_NOTEBOOK_NAME_FROM=GPU_NOTEBOOK_NAME

# When $1 is --notebook NAME or --notebook=NAME, chooses NAME (over GPU_NOTEBOOK_NAME) and sets
# NOTEBOOK_ARGS to how many arguments that took, else to 0. Every script that works on one notebook
# takes it the same way: anywhere among its own options, which its option loop reads up to the
# first argument it passes on (to ssh, pulumi or a job's command) or takes as a path or name:
#   --notebook|--notebook=*) take_notebook_option "$@"; shift "$NOTEBOOK_ARGS" ;;
# shellcheck disable=SC2034 # NOTEBOOK_ARGS is read by the scripts that call it
take_notebook_option() {
    NOTEBOOK_ARGS=0
    case "${1:-}" in
        --notebook)
            [ -n "${2:-}" ] || die "--notebook needs a notebook name (npm run notebooks lists them)"
            GPU_NOTEBOOK_NAME="$2"
            NOTEBOOK_ARGS=2
            ;;
        --notebook=*)
            GPU_NOTEBOOK_NAME="${1#--notebook=}"
            [ -n "$GPU_NOTEBOOK_NAME" ] || die "--notebook needs a notebook name (npm run notebooks lists them)"
            NOTEBOOK_ARGS=1
            ;;
        *) return 0 ;;
    esac
    GPU_NOTEBOOK_NAME_FROM=--notebook
}

GPU_NOTEBOOK_CONFIG=""

# Reads the stack's config through the Pulumi CLI into this shell. --show-secrets because the
# CLI leaves out a whole value that holds any secret, and a notebook's own notebookPassword
# makes all of `notebooks` one; nothing secret is printed from it. Reads the stack by name, so
# it selects nothing; the scripts that change the stack have called use_stack before.
read_stack_config() {
    require_backend || return 1
    local errors
    errors="$(mktemp)"
    GPU_NOTEBOOK_CONFIG="$(pulumi_cli config --json --show-secrets --stack "$GPU_NOTEBOOK_STACK" 2>"$errors")" || {
        passphrase_trouble "$(cat "$errors")" || {
            cat "$errors" >&2
            echo "gpu-notebook: could not read the config of stack $GPU_NOTEBOOK_STACK" >&2
        }
        rm -f "$errors"
        return 1
    }
    rm -f "$errors"
}

# Asks the query program a question about the stack config (scripts/lib/query.ts: choose,
# names-setting, allowed-cidrs, on-demand), which reads it with the deploy's own parser. Needs
# read_stack_config.
stack_config() {
    printf '%s' "$GPU_NOTEBOOK_CONFIG" | query "$@"
}

# Prints the chosen notebook's name ("" for a stack with a single notebook) after checking it
# against the stack config's notebooks; fails saying which names there are.
config_notebook() {
    stack_config choose "$GPU_NOTEBOOK_NAME" "$GPU_NOTEBOOK_NAME_FROM" "$GPU_NOTEBOOK_STACK"
}
