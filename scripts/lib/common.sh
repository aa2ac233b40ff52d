# shellcheck shell=bash
# Small helpers every user script shares: --help from the script's own header, errors, the folder
# the user ran the command in, and the public IPv4 address of the machine the user is at. Source
# it; it changes nothing by itself.

# The folder the user typed the command in, which their relative paths start from. npm runs a
# script in the project folder and says where it was run in INIT_CWD; run directly, the script's
# own `cd` to the project (every script does that before sourcing this file) left it in OLDPWD.
# shellcheck disable=SC2034 # read by the scripts that take paths (copy, handout, job)
USER_DIR="${INIT_CWD:-${OLDPWD:-$PWD}}"

# Prints the comment block at the top of the calling script (after the #! line) as its help.
show_help() {
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}

# The help of a script that is several commands (scripts/power is npm run stop and npm run start),
# so that each command's help lists only its own options: the lines of the header's sections
# whose "## NAME..." line names command $1, or of every section when $1 names none (the script
# run directly with --help). The lines before the first section are for the script's readers.
show_help_of() {
    awk -v command="$1" '
        NR == 1 { next }
        !/^#/ { exit }
        /^## / { names = " " substr($0, 4) " "; known = known names; next }
        names != "" { sub(/^# ?/, ""); count++; text[count] = $0; owner[count] = names }
        END {
            if (index(known, " " command " ") == 0) command = ""
            for (i = 1; i <= count; i++) if (command == "" || index(owner[i], " " command " ")) print text[i]
        }' "$0"
}

# The help of the scripts that read stack outputs of one notebook: how to choose it, and where
# they find the outputs.
show_outputs_help() {
    show_help
    cat <<'HELP'

A stack with config `notebooks` has one notebook per entry: choose it with --notebook NAME (or
--notebook=NAME) among this command's own options, or with GPU_NOTEBOOK_NAME; npm run notebooks
lists them. Its files are then ~/.ssh/gpu-notebook-<stack>-<name>.* instead of
~/.ssh/gpu-notebook-<stack>.*.
HELP
    stack_environment_help
    echo "  GPU_NOTEBOOK_NAME          the notebook of a stack with several (as --notebook NAME)"
}

# The help of a script that reads the outputs of every notebook of the stack (it takes no --notebook).
show_stack_help() {
    show_help
    stack_environment_help
}

stack_environment_help() {
    cat <<'HELP'

Environment:
  GPU_NOTEBOOK_STACK         the stack to use (default dev)
  GPU_NOTEBOOK_OUTPUTS_FILE  read the stack outputs from this JSON file (as written by
                             `pulumi stack output --json --show-secrets`) instead of the Pulumi CLI
HELP
}

# True when -h or --help is among the arguments given (up to a `--`, after which arguments belong
# to another program). A script passes the arguments that are its own options, so help is shown
# wherever it is asked for among them, before anything else happens.
wants_help() {
    local arg
    for arg in "$@"; do
        case "$arg" in
            --) return 1 ;;
            -h | --help) return 0 ;;
        esac
    done
    return 1
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

# Asks "$1 [y/N]" on the terminal; true for y or yes (either case), false for anything else.
answered_yes() {
    local answer
    read -r -p "$1 [y/N] " answer || answer=""
    case "$answer" in
        y | Y | yes | YES) return 0 ;;
        *) return 1 ;;
    esac
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
