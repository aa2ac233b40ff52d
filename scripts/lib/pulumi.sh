# shellcheck shell=bash
# Shared by the user scripts: finds the Pulumi CLI, and either makes sure of a backend and the
# stack (npm run up: use_stack), or checks that there is one to change (stop, start, move,
# destroy: require_stack) or to read (the read-only scripts: require_backend), which log in
# nowhere and create nothing. Source it; it defines functions and changes nothing until they are called.
#
# The stack: GPU_NOTEBOOK_STACK, else the one `pulumi stack select` chose (choose_stack), else dev.
# Its secrets: on a local backend (file://), Pulumi encrypts them with a passphrase, which it
# asks for only at a terminal (both stdin and stdout), and otherwise takes from
# PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE. So that a first npm run up works
# for someone who never heard of them, it makes a random one in a file of the Pulumi home
# (passphrase_file), and the scripts use that file whenever the user set neither variable.

# shellcheck source=scripts/lib/common.sh
. "${BASH_SOURCE[0]%/*}/common.sh"
# shellcheck source=scripts/lib/machine.sh
. "${BASH_SOURCE[0]%/*}/machine.sh"

# Whether the user named the stack; if not, choose_stack looks for a selected one once a backend
# answers. Decided once: several libraries source this file.
if [ -z "${STACK_CHOSEN:-}" ]; then
    if [ -n "${GPU_NOTEBOOK_STACK:-}" ]; then
        STACK_CHOSEN=yes
    else
        GPU_NOTEBOOK_STACK=dev STACK_CHOSEN=no
    fi
    # The backend's URL, once backend_answers has seen it.
    BACKEND_URL=""
fi

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

# True when a backend answers; sets BACKEND_URL. Non-interactive: without a login the CLI would
# otherwise prompt for one, unseen.
backend_answers() {
    if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
        BACKEND_URL="$PULUMI_BACKEND_URL"
        return 0
    fi
    local who
    who="$(pulumi_cli whoami --verbose --non-interactive </dev/null 2>/dev/null)" || return 1
    BACKEND_URL="$(printf '%s\n' "$who" | sed -n 's/^Backend URL: //p')"
}

# Uses the stack `pulumi stack select` chose, unless GPU_NOTEBOOK_STACK names one; dev without
# either. Needs a backend that answers.
choose_stack() {
    [ "$STACK_CHOSEN" = no ] || return 0
    STACK_CHOSEN=yes
    local selected
    selected="$(pulumi_cli stack --show-name --non-interactive </dev/null 2>/dev/null)" || selected=""
    if [ -n "$selected" ]; then
        GPU_NOTEBOOK_STACK="$selected"
    fi
}

# The file holding the chosen stack's passphrase that npm run up made. The pasted sshCommand looks
# for the same name (components/ssh-command.ts passphraseFileName).
passphrase_file() {
    echo "${PULUMI_HOME:-$HOME/.pulumi}/gpu-notebook-${GPU_NOTEBOOK_STACK//\//-}.passphrase"
}

# True when the user gave Pulumi a passphrase: PULUMI_CONFIG_PASSPHRASE set (even empty, as
# Pulumi takes it), or PULUMI_CONFIG_PASSPHRASE_FILE not empty.
user_passphrase() {
    [ -n "${PULUMI_CONFIG_PASSPHRASE+set}" ] || [ -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]
}

# True when Pulumi keeps the stack's secrets with a passphrase we may provide: a local backend,
# and a stack file naming no other secrets provider (awskms://, Pulumi Cloud's...).
local_passphrase_stack() {
    case "$BACKEND_URL" in
        file://*) ;;
        *) return 1 ;;
    esac
    ! grep -Eq '^secretsprovider:' "Pulumi.$GPU_NOTEBOOK_STACK.yaml" 2>/dev/null ||
        grep -Eq '^secretsprovider:[[:space:]]*(passphrase|default)[[:space:]]*$' "Pulumi.$GPU_NOTEBOOK_STACK.yaml"
}

# Hands Pulumi the stack's passphrase file when the user set no passphrase and the file exists.
use_passphrase_file() {
    if ! user_passphrase && local_passphrase_stack && [ -f "$(passphrase_file)" ]; then
        PULUMI_CONFIG_PASSPHRASE_FILE="$(passphrase_file)"
        export PULUMI_CONFIG_PASSPHRASE_FILE
    fi
}

# For a stack about to be created: on a local backend, with no passphrase from the user, makes a
# random one in passphrase_file (0600), says where and why to back it up, and uses it.
make_passphrase_file() {
    user_passphrase && return 0
    local_passphrase_stack || return 0
    local file
    file="$(passphrase_file)"
    if [ ! -f "$file" ]; then
        mkdir -p "$(dirname "$file")"
        (umask 077 && head -c 24 /dev/urandom | base64 >"$file.new" && mv -f "$file.new" "$file") ||
            die "could not write $file"
        echo "gpu-notebook: Pulumi encrypts stack $GPU_NOTEBOOK_STACK's secrets (SSH key, notebook password) with a passphrase;" \
            "a random one is kept for you in $file (readable only by you)."
        echo "  Back that file up: without it this stack's secrets cannot be read. To use a passphrase of your own" \
            "instead, set PULUMI_CONFIG_PASSPHRASE before the first npm run up."
    fi
    PULUMI_CONFIG_PASSPHRASE_FILE="$file"
    export PULUMI_CONFIG_PASSPHRASE_FILE
}

# What to do when Pulumi could not unlock the stack's secrets ($1: what it said), or nothing (status 1)
# when that is not what it said.
passphrase_trouble() {
    local stack_ref="stack $GPU_NOTEBOOK_STACK"
    case "$1" in
        *"passphrase must be set with PULUMI_CONFIG_PASSPHRASE"*)
            echo "gpu-notebook: $stack_ref keeps its secrets with a Pulumi passphrase, and none is given here: set" \
                "PULUMI_CONFIG_PASSPHRASE to it (or PULUMI_CONFIG_PASSPHRASE_FILE to a file holding it)," \
                "or run this at a terminal, where Pulumi asks for it" >&2
            ;;
        *"incorrect passphrase"*)
            echo "gpu-notebook: the passphrase given (PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE${PULUMI_CONFIG_PASSPHRASE_FILE:+=$PULUMI_CONFIG_PASSPHRASE_FILE})" \
                "is not the one $stack_ref's secrets were encrypted with" >&2
            ;;
        *) return 1 ;;
    esac
}

# Fails before anything changes when Pulumi will need the stack's passphrase and can neither find
# it nor ask for it (it asks only when stdin and stdout are terminals).
check_passphrase() {
    if user_passphrase || ! local_passphrase_stack || { [ -t 0 ] && [ -t 1 ]; }; then
        return 0
    fi
    passphrase_trouble "passphrase must be set with PULUMI_CONFIG_PASSPHRASE"
    exit 1
}

# Says why the backend the user logged in to does not answer, and fails.
broken_login() {
    echo "gpu-notebook: you are logged in to a Pulumi backend, but 'pulumi whoami' fails for it:" >&2
    pulumi_cli whoami --non-interactive </dev/null >&2 || true
    echo "gpu-notebook: fix that login (pulumi login)${1:+, $1}" >&2
    return 1
}

# For the scripts that only read the stack: fails in one line naming npm run up when no backend
# is logged in ($1: that line, default one for a reader). Logs in nowhere: a login here could
# switch someone who meant to use another backend.
require_backend() {
    use_pulumi || return 1
    [ "${BACKEND_CHECKED:-}" != yes ] || return 0
    if ! backend_answers; then
        if has_pulumi_login; then
            broken_login
            return 1
        fi
        echo "gpu-notebook: ${1:-no Pulumi backend is logged in here, so there is no stack $GPU_NOTEBOOK_STACK to read: create the notebook with npm run up}" >&2
        return 1
    fi
    choose_stack
    use_passphrase_file
    BACKEND_CHECKED=yes
}

# For the scripts that change a stack that must exist (stop, start, move, destroy): fails in one
# line naming npm run up, changing nothing, when the stack is not there or has nothing deployed;
# else selects it (which needs no passphrase) and checks that Pulumi will have its passphrase.
require_stack() {
    require_backend "$(nothing_deployed)" || return 1
    local outputs
    if ! pulumi_cli stack select "$GPU_NOTEBOOK_STACK" --non-interactive </dev/null >/dev/null 2>&1 ||
        { outputs="$(pulumi_cli stack output --json --stack "$GPU_NOTEBOOK_STACK" </dev/null 2>/dev/null)" &&
            [ -z "${outputs//[[:space:]{\}]/}" ]; }; then
        echo "gpu-notebook: $(nothing_deployed)" >&2
        return 1
    fi
    check_passphrase
}

nothing_deployed() {
    echo "nothing is deployed in stack $GPU_NOTEBOOK_STACK: create it with npm run up"
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
        BACKEND_URL="file://~"
    fi
    choose_stack
    use_passphrase_file
    BACKEND_CHECKED=yes
}

# Selects the stack, creating it on first use (with its passphrase file, see above), after
# making sure of a backend: for npm run up.
use_stack() {
    ensure_backend || return 1
    if pulumi_cli stack select "$GPU_NOTEBOOK_STACK" --non-interactive </dev/null >/dev/null 2>&1; then
        check_passphrase
        return 0
    fi
    make_passphrase_file
    pulumi_cli stack select --create "$GPU_NOTEBOOK_STACK" >/dev/null
}
