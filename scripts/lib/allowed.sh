# shellcheck shell=bash
# The one place that lets the address you are at now reach the notebook: reads allowedCidrs from
# the stack's config and adds (or, with --replace, sets) <your public IPv4>/32, through
# `pulumi config set --path`. Used by npm run up (when allowedCidrs is unset) and npm run
# allow-my-ip. Source it after common.sh and pulumi.sh; call use_pulumi and use_stack first.

# Sets ALLOWED_CIDRS (an array, one network each) and ALLOWED_TEXT (what the CLI printed, empty
# when unset) from the stack's allowedCidrs.
read_allowed_cidrs() {
    local entry list
    ALLOWED_TEXT="$(pulumi_cli config get allowedCidrs 2>/dev/null || true)"
    list="$(printf '%s' "$ALLOWED_TEXT" | node "$(dirname "${BASH_SOURCE[0]}")/config-list.js")" || return 1
    ALLOWED_CIDRS=()
    while IFS= read -r entry; do
        [ -z "$entry" ] || ALLOWED_CIDRS+=("$entry")
    done <<< "$list"
}

# allow_my_address yes|no: adds this machine's public address to allowedCidrs, or with "yes"
# makes it the only network there. Says what it changed, and sets ALLOWED_CHANGED to yes or no;
# changes only the stack's config.
# shellcheck disable=SC2034 # ALLOWED_CHANGED is read by the scripts that source this file
allow_my_address() {
    local replace="$1" ip mine entry wanted index
    ALLOWED_CHANGED=no
    ip="$(detect_public_ipv4)" || {
        echo "gpu-notebook: set the networks yourself, e.g.: pulumi config set --path 'allowedCidrs[0]' 203.0.113.7/32" >&2
        return 1
    }
    mine="$ip/32"
    read_allowed_cidrs || return 1
    if [ "$replace" = yes ]; then
        wanted=("$mine")
    else
        for entry in ${ALLOWED_CIDRS[@]+"${ALLOWED_CIDRS[@]}"}; do
            if [ "$entry" = "$mine" ]; then
                echo "gpu-notebook: $mine is already allowed; nothing to change."
                return 0
            fi
        done
        wanted=(${ALLOWED_CIDRS[@]+"${ALLOWED_CIDRS[@]}"} "$mine")
    fi
    if [ "${ALLOWED_CIDRS[*]-}" = "${wanted[*]}" ]; then
        echo "gpu-notebook: allowedCidrs is already just $mine; nothing to change."
        return 0
    fi
    if [ "$replace" = no ] && [[ "$ALLOWED_TEXT" =~ ^[[:space:]]*\[ ]]; then
        # Appending to a list is one change.
        pulumi_cli config set --path "allowedCidrs[${#ALLOWED_CIDRS[@]}]" "$mine"
    else
        # Anything else is rewritten as a list, entry by entry.
        if [ -n "$ALLOWED_TEXT" ]; then
            pulumi_cli config rm allowedCidrs >/dev/null 2>&1 || true
        fi
        index=0
        for entry in "${wanted[@]}"; do
            pulumi_cli config set --path "allowedCidrs[$index]" "$entry"
            index=$((index + 1))
        done
    fi
    ALLOWED_CHANGED=yes
    echo "gpu-notebook: allowedCidrs is now ${wanted[*]} (your current public address is $mine)"
}
