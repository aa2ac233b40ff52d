# shellcheck shell=bash
# Small helpers every user script shares: --help from the script's own header, errors, and the
# public IPv4 address of the machine the user is at. Source it; it changes nothing by itself.

# Prints the comment block at the top of the calling script (after the #! line) as its help.
show_help() {
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}

# The help of the scripts that read stack outputs: where they find them.
show_outputs_help() {
    show_help
    cat <<'HELP'

A stack with config `notebooks` has one notebook per entry: choose it with --notebook NAME
(first, before any other argument) or GPU_NOTEBOOK_NAME; npm run notebooks lists them. Its files
are then ~/.ssh/gpu-notebook-<stack>-<name>.* instead of ~/.ssh/gpu-notebook-<stack>.*.

Environment:
  GPU_NOTEBOOK_STACK         the stack to use (default dev)
  GPU_NOTEBOOK_NAME          the notebook of a stack with several (as --notebook NAME)
  GPU_NOTEBOOK_OUTPUTS_FILE  read the stack outputs from this JSON file (as written by
                             `pulumi stack output --json --show-secrets`) instead of the Pulumi CLI
  For tests only: GPU_NOTEBOOK_SSH_HOST, GPU_NOTEBOOK_SSH_PORT and GPU_NOTEBOOK_SSH_USER replace
  the address, port and user SSH connects to; the host key is still checked against the stack's
  sshKnownHosts. GPU_NOTEBOOK_HTTPS_HOST and GPU_NOTEBOOK_HTTPS_PORT do the same for the
  notebook's HTTPS address; the certificate is still checked against notebookCertificatePem.
HELP
}

# True when the first argument asks for help.
wants_help() {
    [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]
}

# Fails unless $2 is a TCP port number; $1 names the option it came from.
check_port() {
    if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then
        die "$1 $2 is not a port number (1-65535)"
    fi
}

die() {
    echo "gpu-notebook: $*" >&2
    exit 1
}

# Prints this machine's public IPv4 address as AWS sees it, or fails saying so.
# GPU_NOTEBOOK_IP_URL (tests only) replaces the address service.
detect_public_ipv4() {
    local url="${GPU_NOTEBOOK_IP_URL:-https://checkip.amazonaws.com}" ip
    ip="$(curl -fsS --max-time 10 "$url" | tr -d '[:space:]' || true)"
    if ! [[ "$ip" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
        echo "gpu-notebook: your public IPv4 address could not be detected (asked $url)." >&2
        return 1
    fi
    echo "$ip"
}
