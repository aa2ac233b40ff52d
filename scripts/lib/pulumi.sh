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

# True when the user has chosen a Pulumi backend of their own: a token for Pulumi Cloud, or a
# backend recorded by an earlier `pulumi login` (PULUMI_HOME defaults to ~/.pulumi).
has_pulumi_login() {
    [ -n "${PULUMI_ACCESS_TOKEN:-}" ] ||
        grep -Eq '"current"[[:space:]]*:[[:space:]]*"[^"]' "${PULUMI_HOME:-$HOME/.pulumi}/credentials.json" 2>/dev/null
}

# Resolves the CLI and makes sure a backend is logged in. With none, logs in to the local file
# backend (~/.pulumi) the way Pulumi's docs describe, `pulumi login --local`, so no account beyond
# AWS is needed and the user's own `pulumi stack output`, `pulumi destroy`... find the same state.
use_pulumi() {
    PULUMI_BIN="$(find_pulumi)" || return 1
    export PULUMI_SKIP_UPDATE_CHECK=true
    # Non-interactive: without a login the CLI would otherwise prompt for one, unseen.
    if [ -n "${PULUMI_BACKEND_URL:-}" ] || pulumi_cli whoami --non-interactive </dev/null >/dev/null 2>&1; then
        return 0
    fi
    if has_pulumi_login; then
        echo "gpu-notebook: you are logged in to a Pulumi backend, but 'pulumi whoami' fails for it:" >&2
        pulumi_cli whoami --non-interactive </dev/null >&2 || true
        echo "gpu-notebook: fix that login (pulumi login), or use the local backend: pulumi login --local" >&2
        return 1
    fi
    echo "gpu-notebook: not logged in to a Pulumi backend; running 'pulumi login --local': state is kept in ~/.pulumi, and your own pulumi commands use it too"
    pulumi_cli login --local >/dev/null
    if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
        echo "gpu-notebook: Pulumi will ask for a passphrase that encrypts this stack's secrets; keep it safe" \
            "(set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE to be asked no more)"
    fi
}

# Selects the stack, creating it on first use.
use_stack() {
    pulumi_cli stack select --create "$GPU_NOTEBOOK_STACK" >/dev/null
}
