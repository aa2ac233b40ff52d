# shellcheck shell=bash
# The last stop's record, read without starting the machine: the SSM parameter the stack's output
# lastStopParameter names (its ARN), which the machine's stop sequence and the idle backstop write
# (components/notify.ts). Read with the aws CLI when it is on PATH: the scripts carry AWS's SDK
# for STS alone (npm run up's credential check), not for SSM. Needs load_outputs.

# shellcheck source=scripts/lib/outputs.sh
. "$(dirname "${BASH_SOURCE[0]}")/outputs.sh"

# Prints when and why the machine last stopped and whether that was notified, or why that cannot
# be told here. Never fails: it adds to an answer, it is not the answer.
show_last_stop() {
    local arn region name record
    arn="$(stack_output lastStopParameter 2>/dev/null)" || arn=""
    if [ -z "$arn" ]; then
        echo "Last stop:   not recorded by this deploy (npm run up records stops from now on)"
        return 0
    fi
    # arn:aws:ssm:REGION:ACCOUNT:parameter/NAME; the parameter's name is /NAME.
    region="$(cut -d: -f4 <<< "$arn")"
    name="/${arn#*:parameter/}"
    if ! command -v aws >/dev/null 2>&1; then
        echo "Last stop:   unknown here: reading it needs the aws CLI (aws ssm get-parameter --region $region --name $name)"
        return 0
    fi
    if ! record="$(timeout 20 aws ssm get-parameter --region "$region" --name "$name" --query Parameter.Value --output text 2>&1)"; then
        echo "Last stop:   could not be read: $(tail -n 1 <<< "$record")"
        return 0
    fi
    node "$(dirname "${BASH_SOURCE[0]}")/last-stop.js" <<< "$record" ||
        echo "Last stop:   could not be read: the record is not JSON"
}
