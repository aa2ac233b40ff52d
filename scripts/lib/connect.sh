# shellcheck shell=bash
# SSH to the stack's machine (in a fleet, the chosen notebook's), verified from the very first
# connection: writes the login key, the pinned host key (sshKnownHosts) and an ssh config for it
# under ~/.ssh, runs ssh through that config only, and opens tunnels to the notebook. Source it
# after common.sh.

# shellcheck source=scripts/lib/outputs.sh
. "${BASH_SOURCE[0]%/*}/outputs.sh"
# The machine's facts: sshd's port, and TUNNEL_HOST, the local end of every tunnel (never an
# address other machines can reach).
# shellcheck source=scripts/lib/machine.sh
. "${BASH_SOURCE[0]%/*}/machine.sh"

# Seconds ssh waits for the machine to accept a connection: long enough for a slow network, short
# enough that a stopped machine or a closed firewall is reported while the user still waits.
SSH_CONNECT_TIMEOUT=10

# gpu-notebook-<stack>, or gpu-notebook-<stack>-<name> for notebook $1 of a fleet: the name of
# what this computer keeps for the notebook.
label_of() {
    echo "gpu-notebook-${GPU_NOTEBOOK_STACK//\//-}${1:+-$1}"
}

# The label of the notebook load_outputs chose.
notebook_label() {
    label_of "$SELECTED_NOTEBOOK_NAME"
}

# ~/.ssh/<label><suffix>: where the notebook's files live.
stack_file() {
    echo "$HOME/.ssh/$(notebook_label)$1"
}

# The folder of the per-stack files, private to this user like ssh expects.
ensure_ssh_dir() {
    if [ ! -d "$HOME/.ssh" ]; then
        mkdir -p "$HOME/.ssh"
        chmod 700 "$HOME/.ssh"
    fi
}

# Writes $2 to the file $1 (with a final newline) readable by this user only, replacing any old
# copy in one step, so a reader never sees half a key. A file that holds it already is left as it
# is: every ssh, job and status writes the same three files, and each write costs three commands.
write_private_file() {
    local tmp current=""
    if [ -f "$1" ] && [ -O "$1" ]; then
        IFS= read -r -d '' current <"$1" || true
        [ "$current" != "$2"$'\n' ] || return 0
    fi
    tmp="$(mktemp "$1.XXXXXX")"
    chmod 600 "$tmp"
    printf '%s\n' "$2" > "$tmp"
    mv -f "$tmp" "$1"
}

# ssh_config expands %-tokens in file paths; a literal % is written %%. $2, if any, is appended
# as it is: %-tokens for ssh to expand.
ssh_config_path() {
    local path="${1//%/%%}"
    echo "\"$path${2:-}\""
}

# One SSH connection per machine, shared by every later command for 10 minutes after its last
# use, so a repeat command skips the handshake. %C is a hash of this computer, the address, port
# and user: another address or port (an impostor's included) never shares a connection, and each
# new connection checks the pinned host key. Unix sockets hold at most 104 bytes on macOS and ssh
# adds 17 while it creates one: under a longer home folder, connections are not shared.
CONTROL_PATH_MAX=86
connection_reuse_lines() {
    local prefix="$HOME/.ssh/gn-"
    if [ $(( ${#prefix} + 40 )) -gt "$CONTROL_PATH_MAX" ]; then
        echo "    # No connection sharing: the socket path under $HOME/.ssh would be too long."
        return
    fi
    echo "    ControlMaster auto
    ControlPath $(ssh_config_path "$prefix" %C)
    ControlPersist 10m"
}

# Seconds a shared connection has to run a no-op before a command gives up on it: a round trip
# and a process start on the machine take well under a second on a slow network.
SHARED_CONNECTION_PROBE_SECONDS=5

# A shared connection whose machine side died without closing (a laptop's sleep, a dropped NAT
# entry) still takes commands here, and each hangs until the keepalives give up (150 s measured).
# So before a script uses it, a no-op through it must come back within 5 s; if it does not, the
# connection is closed here and the command opens a new one. The wait ends when the no-op does
# (read returns on its status line), not on a polling tick. Without a shared connection, this
# costs one local check.
drop_dead_shared_connection() {
    ssh_to_machine -O check >/dev/null 2>&1 || return 0
    local probe="" reply=""
    # ssh itself, not a function: the no-op must not open a connection of its own. Its pid comes
    # first, its exit status when it ends (fd 8, a fixed number: bash 3.2 has no {fd} names).
    exec 8< <(ssh -F "$SSH_CONFIG_FILE" -o ControlMaster=no "$SSH_HOST_ALIAS" true </dev/null >/dev/null 2>&1 &
        echo "$!"; wait "$!"; echo "$?")
    IFS= read -r probe <&8 || true
    IFS= read -r -t "$SHARED_CONNECTION_PROBE_SECONDS" reply <&8 || true
    exec 8<&-
    if [ "$reply" != 0 ]; then
        # The no-op goes first: left waiting, it would connect on its own once the master is gone
        # (a login of its own). Then only this computer's end is asked to exit: the master answers
        # it without the machine.
        [ -z "$probe" ] || kill "$probe" 2>/dev/null || true
        ssh_to_machine -O exit >/dev/null 2>&1 || true
    fi
}

# ssh options for a connection of its own: port forwards requested through a shared connection
# would stay with it after the command ends, instead of ending with the command.
OWN_CONNECTION=(-o ControlPath=none)

# The ssh config entry for a notebook: ssh_host_block ALIAS ADDRESS PORT USER PUBLIC_IP
# KNOWN_HOSTS_FILE KEY_FILE [FOLDER]. HostKeyAlias: the host key is looked up under the public IP
# whatever address is dialled, so the address can change (the tests' overrides, a tunnel) but never
# which host key is accepted. With FOLDER, relative files are looked up in it first, so the config
# works from any folder, then where ssh runs, so it still works in the folder after a move.
ssh_host_block() {
    local known_hosts identities
    known_hosts="$(ssh_config_path "$6")"
    identities="    IdentityFile $(ssh_config_path "$7")"
    if [ -n "${8:-}" ]; then
        known_hosts="$(ssh_config_path "$8/$6") $known_hosts"
        identities="    IdentityFile $(ssh_config_path "$8/$7")
$identities"
    fi
    cat <<CONFIG
Host $1
    HostName $2
    Port $3
    User $4
    HostKeyAlias $5
    HostKeyAlgorithms ssh-ed25519
    UserKnownHostsFile $known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    UpdateHostKeys no
    CheckHostIP no
$identities
    IdentitiesOnly yes
    BatchMode yes
    ConnectTimeout $SSH_CONNECT_TIMEOUT
    ServerAliveInterval 30
    ServerAliveCountMax 4
CONFIG
}

# Reads what SSH to the notebook needs from its outputs into NOTEBOOK_IP, NOTEBOOK_SSH_USER,
# NOTEBOOK_KNOWN_HOSTS and NOTEBOOK_SSH_KEY, checking that the host key is one pinned line.
# Needs load_outputs.
read_ssh_outputs() {
    stack_output_values publicIp sshPrivateKey sshUser sshKnownHosts || return 1
    NOTEBOOK_IP="${OUTPUT_VALUES[0]}"
    NOTEBOOK_SSH_KEY="${OUTPUT_VALUES[1]}"
    NOTEBOOK_SSH_USER="${OUTPUT_VALUES[2]}"
    NOTEBOOK_KNOWN_HOSTS="${OUTPUT_VALUES[3]}"
    if ! [[ "$NOTEBOOK_KNOWN_HOSTS" =~ ^[^[:space:]]+\ ssh-ed25519\ [A-Za-z0-9+/]+=*$ ]]; then
        echo "gpu-notebook: sshKnownHosts is not a known_hosts line for an Ed25519 key: $NOTEBOOK_KNOWN_HOSTS" >&2
        return 1
    fi
}

# Prepares the notebook's files and sets SSH_CONFIG_FILE and SSH_HOST_ALIAS. Needs load_outputs.
prepare_ssh() {
    read_ssh_outputs || return 1
    ensure_ssh_dir
    SSH_HOST_ALIAS="$(notebook_label)"
    SSH_CONFIG_FILE="$(stack_file .ssh_config)"
    local key_file known_hosts_file
    key_file="$(stack_file .pem)"
    known_hosts_file="$(stack_file .known_hosts)"
    write_private_file "$key_file" "$NOTEBOOK_SSH_KEY"
    write_private_file "$known_hosts_file" "$NOTEBOOK_KNOWN_HOSTS"
    write_private_file "$SSH_CONFIG_FILE" "# Written by gpu-notebook's scripts for stack $GPU_NOTEBOOK_STACK; rewritten on every run.
# Use it yourself with: ssh -F $SSH_CONFIG_FILE $SSH_HOST_ALIAS
$(ssh_host_block "$SSH_HOST_ALIAS" "${GPU_NOTEBOOK_SSH_HOST:-$NOTEBOOK_IP}" "${GPU_NOTEBOOK_SSH_PORT:-$MACHINE_SSH_PORT}" \
    "${GPU_NOTEBOOK_SSH_USER:-$NOTEBOOK_SSH_USER}" "$NOTEBOOK_IP" "$known_hosts_file" "$key_file")
$(connection_reuse_lines)"
    drop_dead_shared_connection
}

# Runs ssh to the machine through the stack's config only (no ~/.ssh/config, no system config).
ssh_to_machine() {
    ssh -F "$SSH_CONFIG_FILE" "$SSH_HOST_ALIAS" "$@"
}

# True when ssh arguments ask for port forwarding or a session in the background (-L, -R, -D,
# -W, -N, -f, a *Forward option): those need a connection of their own. A remote command's own
# flags may match as well, which costs only a handshake.
asks_for_forwarding() {
    local arg
    for arg in "$@"; do
        if [[ "$arg" =~ ^-[A-Za-z]*[LRDWNf] || "$arg" =~ Forward ]]; then
            return 0
        fi
    done
    return 1
}

# The remote shell for rsync: ssh through the stack's config. rsync splits it on spaces and
# honours quotes, so the config's path must not hold a quote itself.
rsync_remote_shell() {
    case "$SSH_CONFIG_FILE" in
        *\'*)
            echo "gpu-notebook: the ssh config path $SSH_CONFIG_FILE holds a quote rsync cannot pass on" >&2
            return 1 ;;
    esac
    echo "ssh -F '$SSH_CONFIG_FILE'"
}

# True when something on this machine accepts connections on 127.0.0.1:$1.
local_port_open() {
    (exec 3<>"/dev/tcp/$TUNNEL_HOST/$1") 2>/dev/null
}

# Splits an https://host:port/ URL: sets URL_HOST and URL_PORT for the calling script.
# shellcheck disable=SC2034 # both are read by the scripts that source this file
parse_notebook_url() {
    if ! [[ "$1" =~ ^https://([^/:]+):([0-9]+)/ ]]; then
        echo "gpu-notebook: notebookUrl is not an https://host:port/ URL: $1" >&2
        return 1
    fi
    URL_HOST="${BASH_REMATCH[1]}"
    URL_PORT="${BASH_REMATCH[2]}"
}

# The SHA-256 fingerprint of the PEM certificate in file $1, as browsers show it (AB:CD:...).
certificate_fingerprint() {
    node -e 'const { X509Certificate } = require("crypto");
        process.stdout.write(new X509Certificate(require("fs").readFileSync(process.argv[1])).fingerprint256)' "$1"
}

TUNNEL_PID=""

# Forwards 127.0.0.1:$1 here to 127.0.0.1:$2 on the machine, in the background (TUNNEL_PID),
# and returns once the local port accepts connections (at most 30 s). Needs prepare_ssh.
open_tunnel() {
    local local_port="$1" remote_port="$2"
    if local_port_open "$local_port"; then
        echo "gpu-notebook: port $local_port is already in use here; choose another with --port" >&2
        return 1
    fi
    # ssh itself, not a function: a backgrounded function would be a subshell, and $! its pid.
    ssh -F "$SSH_CONFIG_FILE" "${OWN_CONNECTION[@]}" -N -o ExitOnForwardFailure=yes \
        -L "$TUNNEL_HOST:$local_port:127.0.0.1:$remote_port" "$SSH_HOST_ALIAS" &
    TUNNEL_PID=$!
    local waited=0
    until local_port_open "$local_port"; do
        if ! kill -0 "$TUNNEL_PID" 2>/dev/null; then
            wait "$TUNNEL_PID" || true
            TUNNEL_PID=""
            echo "gpu-notebook: the SSH tunnel could not be opened (see ssh's message above)" >&2
            return 1
        fi
        if [ "$waited" -ge 300 ]; then
            close_tunnel
            echo "gpu-notebook: the SSH tunnel did not open within 30 s" >&2
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

close_tunnel() {
    if [ -n "$TUNNEL_PID" ]; then
        kill "$TUNNEL_PID" 2>/dev/null || true
        wait "$TUNNEL_PID" 2>/dev/null || true
        TUNNEL_PID=""
    fi
}

# What to do when the machine does not answer: the one hint ssh, copy and notebook end with.
unreachable_hint() {
    cat >&2 <<'HINT'
gpu-notebook: the machine could not be reached. Either
  - it is stopped (idle stop, or npm run stop): start it with npm run start;
  - the address you are at now is not allowed: npm run allow-my-ip (then npm run up);
  - it is still on its first boot, which takes a few minutes: try again shortly.
HINT
}

# How OpenSSH says it could not connect (refused, timed out, no route, unreachable, a name that
# does not resolve, or a server not answering the protocol yet), as ssh, scp and rsync print it.
SSH_UNREACHABLE_PATTERN='connect to host .* port [0-9]+: |Could not resolve hostname|Connection timed out during banner exchange|kex_exchange_identification: '

# Runs "$@" (ssh, scp or rsync through the stack's ssh config) with its own stderr passed through
# as it comes, and when it failed because the machine could not be reached, ends with
# unreachable_hint. Returns the command's status.
run_reaching_machine() {
    local messages status
    messages="$(mktemp)"
    # stdout stays where it was (fd 3); only stderr goes through tee, which also keeps a copy. The
    # status travels in a file: a pipeline's own status would depend on the caller's pipefail.
    { { "$@" && echo 0 >"$messages.status" || echo "$?" >"$messages.status"; } 2>&1 1>&3 3>&- | tee "$messages" >&2; } 3>&1
    status="$(<"$messages.status")"
    if [ "$status" -ne 0 ] && grep -Eq "$SSH_UNREACHABLE_PATTERN" "$messages"; then
        unreachable_hint
    fi
    rm -f "$messages" "$messages.status"
    return "$status"
}
