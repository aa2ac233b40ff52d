# shellcheck shell=bash
# Shared by the user scripts: finds the Pulumi CLI, and either makes sure of a backend and the
# stack (the scripts that change the stack: use_stack) or only checks that there is one to read
# (the read-only scripts: require_backend, which logs in nowhere and creates nothing).
# Source it; it defines functions and changes nothing until they are called.

# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=scripts/lib/machine.sh
. "$(dirname "${BASH_SOURCE[0]}")/machine.sh"

GPU_NOTEBOOK_STACK="${GPU_NOTEBOOK_STACK:-dev}"

# Where Pulumi documents installing its CLI: the next step when npm's copy cannot be fetched.
PULUMI_INSTALL_URL=https://www.pulumi.com/docs/iac/download-install/

# The project's own copy of the CLI: the pulumi npm package, which fetches the CLI on first use.
npm_pulumi() {
    echo "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/node_modules/.bin/pulumi"
}

# The pulumi on the user's PATH, ignoring npm's node_modules/.bin (which `npm run` puts first);
# without one, the project's pulumi npm package.
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
    if [ -x "$(npm_pulumi)" ]; then
        npm_pulumi
        return 0
    fi
    echo "gpu-notebook: no Pulumi CLI found; run 'npm ci' first (it brings the pulumi npm package)," \
        "or install the CLI from $PULUMI_INSTALL_URL" >&2
    return 1
}

pulumi_cli() {
    "${PULUMI_BIN:?call use_pulumi first}" "$@"
}

# Resolves the CLI into PULUMI_BIN. The npm package downloads the real CLI the first time it runs
# (from get.pulumi.com, into ~/.pulumi/versions); that happens here, once, so a failed download is
# reported as what it is, with the way around it, instead of a bare "pulumi: fetch failed" from
# whichever command came first.
use_pulumi() {
    [ -z "${PULUMI_BIN:-}" ] || return 0
    local bin messages
    bin="$(find_pulumi)" || return 1
    export PULUMI_SKIP_UPDATE_CHECK=true
    if [ "$bin" = "$(npm_pulumi)" ]; then
        messages="$("$bin" version 2>&1 >/dev/null)" || {
            printf '%s\n' "$messages" >&2
            echo "gpu-notebook: downloading the Pulumi CLI failed (npm's pulumi package fetches it on first use)." \
                "Install the CLI from $PULUMI_INSTALL_URL, or put a pulumi command on your PATH, then run this again." >&2
            return 1
        }
    fi
    PULUMI_BIN="$bin"
    # The program's messages then name the command that works here (components/contract.ts).
    if [ "$bin" = "$(npm_pulumi)" ]; then
        export "$PULUMI_CLI_VARIABLE=npm"
    else
        export "$PULUMI_CLI_VARIABLE=path"
    fi
}

# True when the user has chosen a Pulumi backend of their own: a token for Pulumi Cloud, or a
# backend recorded by an earlier `pulumi login` (PULUMI_HOME defaults to ~/.pulumi).
has_pulumi_login() {
    [ -n "${PULUMI_ACCESS_TOKEN:-}" ] ||
        grep -Eq '"current"[[:space:]]*:[[:space:]]*"[^"]' "${PULUMI_HOME:-$HOME/.pulumi}/credentials.json" 2>/dev/null
}

# True when a backend answers. Non-interactive: without a login the CLI would otherwise prompt for
# one, unseen.
backend_answers() {
    [ -n "${PULUMI_BACKEND_URL:-}" ] || pulumi_cli whoami --non-interactive </dev/null >/dev/null 2>&1
}

# Says why the backend the user logged in to does not answer, and fails.
broken_login() {
    echo "gpu-notebook: you are logged in to a Pulumi backend, but 'pulumi whoami' fails for it:" >&2
    pulumi_cli whoami --non-interactive </dev/null >&2 || true
    echo "gpu-notebook: fix that login (pulumi login)${1:+, $1}" >&2
    return 1
}

# For the scripts that only read the stack: fails in one line naming npm run up when no backend
# is logged in. Logs in nowhere: a login here could switch someone who meant to use another backend.
require_backend() {
    use_pulumi || return 1
    [ "${BACKEND_CHECKED:-}" != yes ] || return 0
    if ! backend_answers; then
        if has_pulumi_login; then
            broken_login
            return 1
        fi
        echo "gpu-notebook: no Pulumi backend is logged in here, so there is no stack $GPU_NOTEBOOK_STACK to read: create the notebook with npm run up" >&2
        return 1
    fi
    BACKEND_CHECKED=yes
}

# For the scripts that change the stack: makes sure a backend is logged in, and with none, logs in
# to the local file backend (~/.pulumi) the way Pulumi's docs describe, `pulumi login --local`, so
# no account beyond AWS is needed and the user's own `pulumi stack output`, `pulumi destroy`...
# find the same state. Reports on stdout.
ensure_backend() {
    use_pulumi || return 1
    [ "${BACKEND_CHECKED:-}" != yes ] || return 0
    if ! backend_answers; then
        has_pulumi_login && { broken_login "or use the local backend: pulumi login --local"; return 1; }
        echo "gpu-notebook: not logged in to a Pulumi backend; running 'pulumi login --local': state is kept in ~/.pulumi, and your own pulumi commands use it too"
        pulumi_cli login --local >/dev/null || return 1
        if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
            echo "gpu-notebook: Pulumi will ask for a passphrase that encrypts this stack's secrets; keep it safe" \
                "(set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE to be asked no more)"
        fi
    fi
    BACKEND_CHECKED=yes
}

# Selects the stack, creating it on first use, after making sure of a backend: only for the
# scripts that change the stack.
use_stack() {
    ensure_backend || return 1
    pulumi_cli stack select --create "$GPU_NOTEBOOK_STACK" >/dev/null
}
