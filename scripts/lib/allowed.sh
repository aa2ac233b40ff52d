# shellcheck shell=bash
# The one place that lets the address you are at now reach a notebook: reads allowedCidrs from the
# stack's config (in a fleet, the notebook's own list, or the top-level one it inherits) and adds
# (or, with replace, sets) <your public IPv4>/32 through `pulumi config set --path`. Used by npm
# run up (when allowedCidrs is unset) and npm run allow-my-ip. Call use_stack first: it changes
# the stack's config.

# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=scripts/lib/fleet.sh
. "$(dirname "${BASH_SOURCE[0]}")/fleet.sh"

# Sets ALLOWED_ORIGIN (list, text, inherited or unset: see scripts/lib/config-view.ts) and
# ALLOWED_CIDRS (one network each) for notebook $1, or the top level when $1 is empty.
read_allowed_cidrs() {
    local entry cidrs
    read_stack_config || return 1
    cidrs="$(stack_config allowed-cidrs "${1:-}")" || return 1
    ALLOWED_ORIGIN=""
    ALLOWED_CIDRS=()
    while IFS= read -r entry; do
        if [ -z "$ALLOWED_ORIGIN" ]; then
            ALLOWED_ORIGIN="$entry"
        elif [ -n "$entry" ]; then
            ALLOWED_CIDRS+=("$entry")
        fi
    done <<< "$cidrs"
}

# allow_my_address yes|no [NAME]: adds this machine's public address to the allowedCidrs of
# notebook NAME (the top level without one), or with "yes" makes it the only network there. Says
# what it changed, and sets ALLOWED_CHANGED to yes or no; changes only the stack's config.
# shellcheck disable=SC2034 # ALLOWED_CHANGED is read by the scripts that source this file
allow_my_address() {
    local replace="$1" name="${2:-}" ip mine entry wanted index key=allowedCidrs
    ALLOWED_CHANGED=no
    ip="$(detect_public_ipv4)" || {
        echo "gpu-notebook: set the networks yourself, e.g.: pulumi config set --path 'allowedCidrs[0]' 203.0.113.7/32" >&2
        return 1
    }
    mine="$ip/32"
    [ -z "$name" ] || key="notebooks.$name.allowedCidrs"
    read_allowed_cidrs "$name" || return 1
    if [ "$replace" = yes ]; then
        wanted=("$mine")
    else
        for entry in ${ALLOWED_CIDRS[@]+"${ALLOWED_CIDRS[@]}"}; do
            if [ "$entry" = "$mine" ]; then
                echo "gpu-notebook: $mine is already allowed${name:+ to reach $name}; nothing to change."
                return 0
            fi
        done
        wanted=(${ALLOWED_CIDRS[@]+"${ALLOWED_CIDRS[@]}"} "$mine")
    fi
    if [ "${ALLOWED_CIDRS[*]-}" = "${wanted[*]}" ]; then
        echo "gpu-notebook: $key is already just $mine; nothing to change."
        return 0
    fi
    if [ "$replace" = no ] && [ "$ALLOWED_ORIGIN" = list ]; then
        # Appending to a list is one change.
        pulumi_cli config set --path "${key}[${#ALLOWED_CIDRS[@]}]" "$mine"
    else
        # Anything else is written as a list, entry by entry.
        case "$ALLOWED_ORIGIN" in
            list | text) pulumi_cli config rm --path "$key" >/dev/null 2>&1 || true ;;
        esac
        index=0
        for entry in "${wanted[@]}"; do
            pulumi_cli config set --path "${key}[$index]" "$entry"
            index=$((index + 1))
        done
    fi
    ALLOWED_CHANGED=yes
    if [ "$ALLOWED_ORIGIN" = inherited ]; then
        echo "gpu-notebook: $name had no allowedCidrs of its own and used the top-level ones (${ALLOWED_CIDRS[*]});" \
            "it now has its own list, so later changes to the top-level allowedCidrs no longer reach it."
    fi
    echo "gpu-notebook: $key is now ${wanted[*]} (your current public address is $mine)"
}
