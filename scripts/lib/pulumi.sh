# shellcheck shell=bash
# Shared by the user scripts: finds the Pulumi CLI, picks the state backend and the stack.
# Source it; it defines functions and changes nothing until they are called.

GPU_NOTEBOOK_STACK="${GPU_NOTEBOOK_STACK:-dev}"

# The pulumi on the user's PATH, ignoring npm's node_modules/.bin (which `npm run` puts first);
# without one, the official `pulumi` npm package, which fetches the CLI on first use.
find_pulumi() {
    local dir
    local IFS=:
    for dir in $PATH; do
        case "$dir" in
            */node_modules/.bin) continue ;;
        esac
        if [ -x "$dir/pulumi" ]; then
            echo "$dir/pulumi"
            return 0
        fi
    done
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    if [ -x "$here/node_modules/.bin/pulumi" ]; then
        echo "$here/node_modules/.bin/pulumi"
        return 0
    fi
    echo "gpu-notebook: no Pulumi CLI found; run 'npm ci' first (it brings the pulumi npm package)" >&2
    return 1
}

pulumi_cli() {
    "${PULUMI_BIN:?call use_pulumi first}" "$@"
}

# Resolves the CLI and, unless the user is already logged in to a backend, keeps state in the
# local file backend (~/.pulumi) so no account beyond AWS is needed.
use_pulumi() {
    PULUMI_BIN="$(find_pulumi)"
    export PULUMI_SKIP_UPDATE_CHECK=true
    if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! pulumi_cli whoami >/dev/null 2>&1; then
        export PULUMI_BACKEND_URL="file://~"
        echo "gpu-notebook: not logged in to a Pulumi backend; keeping state locally in ~/.pulumi"
        if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
            echo "gpu-notebook: Pulumi will ask for a passphrase that encrypts this stack's secrets; keep it safe"
        fi
    fi
}

# Selects the stack, creating it on first use.
use_stack() {
    pulumi_cli stack select --create "$GPU_NOTEBOOK_STACK" >/dev/null
}
