# shellcheck shell=sh
# Installed by gpu-notebook's boot bundle as a login profile script: the notebook user's login
# shells put packages and caches where the notebook server and the jobs put them, on the data
# volume (the variables and why: the file read below). Other users are left as they are.
if [ "$(id -un 2>/dev/null)" = "{{user}}" ] && [ -r "{{environmentFile}}" ]; then
    set -a
    # shellcheck source=/dev/null # KEY=VALUE lines rendered by components/boot.ts
    . "{{environmentFile}}"
    set +a
    # Commands that pip install --user brings (jupyter, huggingface-cli, ...).
    case ":$PATH:" in
        *":$PYTHONUSERBASE/bin:"*) ;;
        *) PATH="$PYTHONUSERBASE/bin:$PATH" ;;
    esac
fi
