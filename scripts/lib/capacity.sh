# shellcheck shell=bash
# Runs `pulumi up` until EC2 gives the notebooks a GPU, for npm run up and npm run start. EC2
# answers "no capacity" only when asked for a machine, so:
#   - a new machine that finds none (a launch) is retried at once with the next candidate: this
#     tells the program, through $NO_CAPACITY_VAR (machine.sh), which candidates were full;
#   - a stopped machine that cannot start keeps its zone and type (its disks live there), so the
#     start is retried with backoff until WAIT_MINUTES have passed, one line per attempt.
# Each refusal is told as one line ("no g5.xlarge free in us-east-1a right now"); when nothing is
# left to try, the commands that help follow, most likely first.
# GPU_NOTEBOOK_RETRY_SECONDS: see docs/testing.md.

# shellcheck source=scripts/lib/pulumi.sh
. "$(dirname "${BASH_SOURCE[0]}")/pulumi.sh"
# shellcheck source=scripts/lib/machine.sh
. "$(dirname "${BASH_SOURCE[0]}")/machine.sh"

# shellcheck source=scripts/lib/query.sh
. "$(dirname "${BASH_SOURCE[0]}")/query.sh"

# The commands that help when a start found no GPU; $1 is the notebook ("notebook" for a stack
# of one), $2 the zone, $3 what the on-demand fallback costs for a spot machine with
# spotFallback on-demand ("" otherwise).
start_help() {
    local which=""
    [ "$1" = notebook ] || which=" --notebook $1"
    echo "gpu-notebook: what helps, most likely first:"
    echo "  npm run start --$which --wait 60           keep trying for an hour"
    if [ -n "${3:-}" ]; then
        echo "  npm run start --$which --on-demand         replace the spot machine by an on-demand one in $2 ($3):"
        echo "                                             data volume and address kept, root disk not"
    fi
    echo "  npm run start --$which --type TYPE         another of your instanceTypes, in $2: disks and address kept"
    echo "  npm run move --$which --zone ZONE          another zone that offers one of them: ~/notebooks goes by snapshot,"
    echo "                                             the machine is recreated there, its root disk is not kept"
    echo "  (npm run plan shows the candidates, their zones and prices; see 'When no GPU is free' in the README)"
}

# capacity_up WAIT_MINUTES [pulumi up arguments...]: returns pulumi's status of the last attempt.
# Leaves in CAPACITY_UNSTARTED the notebooks whose start still found no GPU.
capacity_up() {
    local wait_minutes="$1"
    shift
    local events full="" status pause="${GPU_NOTEBOOK_RETRY_SECONDS:-30}" began=$SECONDS
    local failures action notebook key line offer new started waited left retry=()
    CAPACITY_UNSTARTED=""
    events="$(mktemp "${TMPDIR:-/tmp}/gpu-notebook-events.XXXXXX")"
    # Volumes made after this moment by a launch that then found no GPU hold nothing: they may follow the machine.
    export "$RUN_STARTED_VAR=$(($(date +%s) * 1000))"
    while :; do
        status=0
        : >"$events"
        local -x "$NO_CAPACITY_VAR=$full"
        pulumi_cli up --event-log "$events" "${retry[@]}" "$@" || status=$?
        if [ "$status" -eq 0 ]; then
            rm -f "$events"
            return 0
        fi
        failures="$(query capacity-failures "$events")" || failures=""
        if [ -z "$failures" ]; then
            # Not a capacity error: Pulumi has shown it already.
            rm -f "$events"
            return "$status"
        fi
        new=no started=no
        while IFS=$'\t' read -r action notebook key line offer; do
            if [ "$action" = launch ]; then
                case " $full " in
                    *" $notebook=$key "*) ;;
                    *)
                        full="${full:+$full }$notebook=$key"
                        new=yes
                        echo "gpu-notebook: $notebook: $line; trying the next candidate"
                        ;;
                esac
            else
                started=yes
                waited=$(((SECONDS - began) / 60))
                if [ $((SECONDS - began)) -ge $((wait_minutes * 60)) ]; then
                    echo "gpu-notebook: $notebook: $line (waited $waited of $wait_minutes min)"
                    start_help "$notebook" "${key%%/*}" "$offer"
                    CAPACITY_UNSTARTED="${CAPACITY_UNSTARTED:-}${CAPACITY_UNSTARTED:+ }$notebook"
                    continue
                fi
                echo "gpu-notebook: $notebook: $line; waited $waited of $wait_minutes min, trying again in ${pause} s"
            fi
        done <<<"$failures"
        if [ -n "${CAPACITY_UNSTARTED:-}" ]; then
            rm -f "$events"
            return "$status"
        fi
        if [ "$started" = yes ]; then
            left=$((wait_minutes * 60 - (SECONDS - began)))
            sleep "$((pause < left ? pause : left))"
            pause=$((pause * 2 > 300 ? 300 : pause * 2))
            # The same change again: asked for once already.
            retry=(--yes)
        elif [ "$new" = no ]; then
            rm -f "$events"
            return "$status"
        fi
    done
}

# What a new machine (a move, an on-demand replacement) keeps, re-creates and loses, for the
# question asked before one is made: the data volume carries the packages and caches the machine
# points there (components/contract.ts USER_ENVIRONMENT), the setup file runs on the new machine,
# and the root disk goes.
new_machine_warning() {
    echo "  Kept: the data volume, ~/notebooks, with your packages and caches on it (pip install --user,"
    echo "    conda environments, virtualenvs under ~/notebooks, the pip, Hugging Face and torch hub caches, your Jupyter kernels)."
    echo "  Re-created: the new machine runs your setup file, ~/notebooks/.gpu-notebook/setup, once before Jupyter starts"
    echo "    (npm run setup-log shows how it went)."
    echo "  Lost: everything else outside ~/notebooks, as the root disk is NOT kept: apt installs, packages installed into"
    echo "    the AMI's own environments (the default kernel's), shell history."
}
