#!/usr/bin/env bash
# The stand-in `pulumi` of one test, through the stand-in server (server.js says why and the
# protocol). ../stand-ins.ts writes it with the server's port and the stand-in's path filled in;
# without a server it runs the stand-in itself.
port=@PORT@
# The braces keep 2>/dev/null to the connect: a bare exec would keep it for the whole script.
if ! { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
    exec node "@SCRIPT@" "$@"
fi
# Whether this call's stdin and stdout are terminals: the server runs the code, so it is told (the
# real CLI prompts only when both are; see ./pulumi, interactive).
# Not in $(...), whose stdout is a pipe.
terminals=00
if [ -t 0 ]; then terminals=1${terminals:1}; fi
if [ -t 1 ]; then terminals=${terminals:0:1}1; fi
{
    printf '%s\0' "$PWD" "$terminals" "$#" "$@"
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
