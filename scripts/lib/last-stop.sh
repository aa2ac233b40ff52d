# shellcheck shell=bash
# The last stop's record, read without starting the machine: the SSM parameter the stack's output
# lastStopParameter names (its ARN), which the machine's stop sequence and the idle backstop write
# (components/notify.ts). Read with AWS's SDK (query last-stop: scripts/lib/last-stop-record.ts),
# no aws CLI needed. Needs load_outputs.

# shellcheck source=scripts/lib/outputs.sh
. "$(dirname "${BASH_SOURCE[0]}")/outputs.sh"
# shellcheck source=scripts/lib/query.sh
. "$(dirname "${BASH_SOURCE[0]}")/query.sh"

# Prints when and why the machine last stopped and whether that was notified, or why that cannot
# be told here. Never fails: it adds to an answer, it is not the answer.
show_last_stop() {
    local arn
    arn="$(stack_output lastStopParameter 2>/dev/null)" || arn=""
    if [ -z "$arn" ]; then
        echo "Last stop:   not recorded by this deploy (npm run up records stops from now on)"
        return 0
    fi
    query last-stop "$arn" || echo "Last stop:   could not be read (see above)"
}
