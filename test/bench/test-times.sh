#!/usr/bin/env bash
# Per-file cost of the test suite: each test file alone (so one file's servers and program runs are
# charged to it), then the whole `npm test` and `npm run test:unit`. Wall time depends on the
# machine's load; CPU seconds (the whole machine's, see machine_cpu) are the load-robust number.
# Usage: bash test/bench/test-times.sh [--files-only|--totals-only] [file...]
set -euo pipefail
cd "$(dirname "$0")/../.."

export CI=true
mode=all
case "${1-}" in --files-only|--totals-only) mode=${1#--}; shift ;; esac
files=("$@")
[[ ${#files[@]} -gt 0 ]] || mapfile -t files < <(ls test/*.test.ts)

# The machine's CPU seconds so far (user, nice and system, every process), from /proc/stat:
# time(1) would miss what a test starts and does not wait for, such as the stand-in pulumi's
# server, which ends with the test process. So run this on an otherwise idle machine.
machine_cpu() {
    local _ user nice system
    read -r _ user nice system _ < /proc/stat
    echo "($user + $nice + $system) / $(getconf CLK_TCK)" | bc -l
}

measure() { # label command... → one table row: label | wall s | cpu s | result
    local label=$1 out cpu_before start status; shift
    out=$(mktemp)
    cpu_before=$(machine_cpu)
    start=$(date +%s.%N)
    if "$@" >"$out" 2>&1; then status=ok; else status=FAILED; fi
    if [[ $status == FAILED ]]; then cp "$out" "${TMPDIR:-/tmp}/test-times-$label.log"; fi
    printf '| %s | %.1f | %.1f | %s %s |\n' "$label" "$(echo "$(date +%s.%N) - $start" | bc)" \
        "$(echo "$(machine_cpu) - $cpu_before" | bc)" "$status" "$(grep -E '^[0-9]+ passed' "$out" | tail -1)"
    rm -f "$out"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| file | wall s | CPU s | result |"
echo "|---|---|---|---|"
if [[ $mode != totals-only ]]; then
    for file in "${files[@]}"; do
        measure "$(basename "$file" .test.ts)" npx mocha "$file"
    done
fi
if [[ $mode != files-only ]]; then
    measure "npm test" npm test
    if grep -q '"test:unit"' package.json; then measure "npm run test:unit" npm run test:unit; fi
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
