# shellcheck shell=bash
# The scripts' one way to ask the program (scripts/lib/query.ts): query QUESTION ARGS... runs it
# through the transpile cache. Source it; it defines functions and changes nothing by itself.

# This folder, found without running a command (this file is on every command's path), and
# absolute: node takes a --require path without one for a package name.
QUERY_LIB="${BASH_SOURCE[0]%/*}"
[ "$QUERY_LIB" != "${BASH_SOURCE[0]}" ] || QUERY_LIB=.
case "$QUERY_LIB" in
    /*) ;;
    *) QUERY_LIB="$PWD/$QUERY_LIB" ;;
esac

query() {
    node --require "$QUERY_LIB/ts-require.js" "$QUERY_LIB/query.ts" "$@"
}

# Reads the NUL-ended fields of a query's answer on stdin into the array FIELDS:
#   read_fields < <(query QUESTION ARGS...)
# (a pipe would read them in a subshell, which keeps no array).
read_fields() {
    FIELDS=()
    local field
    while IFS= read -r -d '' field; do
        FIELDS+=("$field")
    done
}
