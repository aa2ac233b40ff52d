#!/usr/bin/env bash
# The stand-in `pulumi` of one test, through the stand-in server (server.js says why and the
# protocol). ../stand-ins.ts writes it with the server's port and the stand-in's path filled in;
# without a server it runs the stand-in itself.
port=@PORT@
# The braces keep 2>/dev/null to the connect: a bare exec would keep it for the whole script.
if ! { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
    exec node "@SCRIPT@" "$@"
fi
{
    printf '%s\0' "$PWD" "$#" "$@"
    while IFS= read -r name; do
        printf '%s=%s\0' "$name" "${!name}"
    done < <(compgen -e)
    printf '\0'
} >&3
# Byte counts: read -N counts characters, which in the C locale are bytes.
LC_ALL=C
while IFS=' ' read -r channel size <&3; do
    case "$channel" in
        O) IFS= read -r -N "$size" text <&3 && printf '%s' "$text" ;;
        E) IFS= read -r -N "$size" text <&3 && printf '%s' "$text" >&2 ;;
        X) exit "$size" ;;
    esac
done
echo "pulumi stand-in: no answer from its server on port $port" >&2
exit 1
