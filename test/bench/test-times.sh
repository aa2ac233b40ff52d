#!/usr/bin/env bash
# Per-file cost of the test suite: each test file alone (so one file's servers and program runs are
# charged to it), then the whole `npm test` and `npm run test:unit`. Wall time depends on the
# machine's load; CPU seconds (user + system, children included) are the load-robust number.
# Usage: bash test/bench/test-times.sh [--files-only|--totals-only] [file...]
set -euo pipefail
cd "$(dirname "$0")/../.."

export CI=true
mode=all
case "${1-}" in --files-only|--totals-only) mode=${1#--}; shift ;; esac
files=("$@")
[[ ${#files[@]} -gt 0 ]] || mapfile -t files < <(ls test/*.test.ts)

measure() { # label command... → one table row: label | wall s | cpu s | result
    local label=$1 out; shift
    out=$(mktemp)
    if /usr/bin/time -f '%e %U %S' -o "$out.time" "$@" >"$out" 2>&1; then status=ok; else status=FAILED; fi
    # time(1) puts "Command exited with non-zero status N" before its numbers when the command failed.
    read -r wall user sys < <(tail -1 "$out.time")
    if [[ $status == FAILED ]]; then cp "$out" "${TMPDIR:-/tmp}/test-times-$label.log"; fi
    printf '| %s | %.1f | %.1f | %s %s |\n' "$label" "$wall" "$(echo "$user + $sys" | bc)" \
        "$status" "$(grep -E '^[0-9]+ passed' "$out" | tail -1)"
    rm -f "$out" "$out.time"
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
