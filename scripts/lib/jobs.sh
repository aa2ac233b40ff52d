# shellcheck shell=bash
# How the job scripts reach the job runner on the machine (components/boot/gpu-notebook-job) and
# what they say when they cannot. prepare_ssh must have run before any call reaches the machine.

# shellcheck source=scripts/lib/connect.sh
. "${BASH_SOURCE[0]%/*}/connect.sh"

# Where the runner and its machine file are on the machine: components/contract.ts, through the
# generated machine.sh.
# shellcheck source=scripts/lib/machine.sh
. "${BASH_SOURCE[0]%/*}/machine.sh"

# The address ssh dials, for messages.
machine_address() {
    echo "${GPU_NOTEBOOK_SSH_HOST:-$(stack_output publicIp)}:${GPU_NOTEBOOK_SSH_PORT:-$MACHINE_SSH_PORT}"
}

# Prints the likely causes of an ssh failure, most likely first, each with the command that
# deals with it. $1 is what ssh said.
explain_unreachable() {
    local stopped="  - the machine is stopped (idle stop, npm run stop, a spot interruption): npm run start"
    local address="  - the address you are at is not allowed (another network?): npm run allow-my-ip, then npm run up"
    local booting="  - it is starting: the first boot takes a few minutes; try again shortly"
    case "$1" in
        *"Host key verification failed"*)
            echo "The machine at $(machine_address) is not this stack's machine (its host key differs): refused, nothing was sent." ;;
        *"Permission denied"*)
            echo "The machine at $(machine_address) does not accept this stack's login key: is it this stack's machine?" ;;
        *"Connection refused"*)
            echo "Not reachable: $(machine_address) refused the connection. Likely causes:"
            printf '%s\n' "$booting" "$stopped" "$address" ;;
        *)
            echo "Not reachable: $(machine_address) did not answer. Likely causes:"
            printf '%s\n' "$stopped" "$address" "$booting" ;;
    esac
}

# Runs the job runner on the machine: run_job_runner SUBCOMMAND ARGS... Every argument arrives
# as it is (quoted for the remote shell). The runner's
# output streams; its messages (stderr) are shown when it ends, with the likely cause and the
# next command when the machine could not be reached. Returns the runner's exit status.
run_job_runner() {
    local errors status=0
    errors="$(mktemp)"
    ssh_to_machine "$(job_runner_command "$@")" 2>"$errors" || status=$?
    show_runner_messages "$status" "$errors"
    return "$status"
}

# Shows (and removes) the file $2 of messages from a runner call that ended with status $1.
show_runner_messages() {
    cat "$2" >&2
    explain_runner_failure "$1" "$(cat "$2")" >&2
    rm -f "$2"
}

# The remote command line for job_runner_command SUBCOMMAND ARGS...: each argument quoted for the
# remote shell.
job_runner_command() {
    machine_program_command "$(job_runner_path)" "${GPU_NOTEBOOK_JOB_RUNNER_ARGS:-}" "$@"
}

# The remote command line that asks the idle watcher for the machine's status (npm run status).
status_command() {
    machine_program_command "${GPU_NOTEBOOK_IDLE_WATCHER:-$IDLE_WATCHER_PATH}" "${GPU_NOTEBOOK_IDLE_WATCHER_ARGS:-}" status --json
}

# machine_program_command PROGRAM EXTRA SUBCOMMAND ARGS...: PROGRAM on the machine, with the test
# options EXTRA (one string, split on spaces) after the subcommand. Each program gets its paths from
# the machine file, never from defaults of its own. A machine whose boot bundle is not installed
# yet says so (exit 3) instead of a shell error.
machine_program_command() {
    local program subcommand="$3" extra=() command
    printf -v program '%q' "$1"
    read -ra extra <<< "$2"
    shift 3
    printf -v command '%q ' "$subcommand" --machine "$MACHINE_FILE" ${extra[@]+"${extra[@]}"} "$@"
    printf 'if [ -x %s ]; then exec %s %s; fi; echo "%s" >&2; cat %q >&2 2>/dev/null; exit 3\n' \
        "$program" "$program" "$command" "$NOT_SET_UP" "$BUNDLE_FAILED_FILE"
}

# What a machine without its boot bundle says; explain_runner_failure adds the next step.
NOT_SET_UP="gpu-notebook: the machine has not finished its set-up (no job runner yet)"

# Puts the runner's JSON report (stdin) into words: job_report jobs|status.
job_report() {
    node "$(dirname "${BASH_SOURCE[0]}")/job-report.js" "$1"
}

job_runner_path() {
    echo "${GPU_NOTEBOOK_JOB_RUNNER:-$JOB_RUNNER_PATH}"
}

# After a failed call (exit status $1, ssh's and the runner's messages $2): what to do about it.
explain_runner_failure() {
    if [ "$1" -eq 255 ]; then
        explain_unreachable "$2"
    elif [ "$1" -eq 3 ] && [[ "$2" == *"$NOT_SET_UP"* ]]; then
        echo "Next step: a new machine sets itself up in a few minutes after its first start; try again shortly." \
            "If the reason above says the boot bundle could not be installed, run npm run up (or npm run stop, then npm run start)."
    fi
}

# Streams job $1's log until it ends and returns its exit status. Ctrl-C stops following only:
# ssh runs in the background (where the shell makes it ignore Ctrl-C), so the trap below runs at
# once; in the foreground ssh would exit on Ctrl-C by itself and the shell, seeing it exit
# normally, would never run the trap.
follow_job() {
    local name="$1" errors status=0
    errors="$(mktemp)"
    ssh_to_machine "$(job_runner_command logs "$name" --follow)" 2>"$errors" &
    FOLLOW_PID=$!
    trap 'kill "$FOLLOW_PID" 2>/dev/null || true; rm -f "$errors"
        echo "Stopped following; job $name keeps running. Follow it again: npm run job-logs -- $name --follow" >&2
        exit 130' INT
    wait "$FOLLOW_PID" || status=$?
    trap - INT
    show_runner_messages "$status" "$errors"
    return "$status"
}
