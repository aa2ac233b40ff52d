#!/usr/bin/python3
"""gpu-notebook idle watcher, run every minute as root by gpu-notebook-idle.timer.

Powers the machine off (EC2 then stops it: disk and IP stay) once, for the whole limit, no Jupyter
kernel was busy or active (REST API, machine token, not counted as activity), no GPU was above the
threshold and no SSH connection was open. Each decision is one line in the journal. The limit is
the instance tag idleStopMinutes (via IMDS), so changing it needs no new machine; 0 turns it off.
"""
import argparse, datetime, json, os, pwd, secrets, ssl, subprocess, sys, tempfile, time
import urllib.error, urllib.request

TAG = "idleStopMinutes"
DEFAULT_MINUTES = 60
ERRORS = (OSError, ValueError, subprocess.SubprocessError)  # urllib's errors are OSErrors


def epoch(text):  # jupyter_server writes "2026-11-21T23:49:52.544025Z"
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def fetch(url, headers, context=None, method="GET"):
    request = urllib.request.Request(url, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=5, context=context) as response:
        return response.read().decode("utf-8").strip()


def jupyter(args, now):
    """(time of the latest kernel or terminal activity, busy kernels counting as now; description)"""
    headers = {"Authorization": "token " + read(args.token_file)}
    context = None
    if args.jupyter_url.startswith("https:"):
        # Pinned to the notebook's own certificate, which names the public address, not 127.0.0.1.
        context = ssl.create_default_context(cafile=args.cafile)
        context.check_hostname = False
    base = args.jupyter_url.rstrip("/")
    try:
        # no_track_activity: jupyter_server does not count these reads as user activity.
        kernels = json.loads(fetch(base + "/api/kernels?no_track_activity=1", headers, context))
    except ERRORS as error:
        return None, "jupyter=unreachable(%s)" % str(getattr(error, "reason", error)).replace(" ", "_")
    try:
        terminals = json.loads(fetch(base + "/api/terminals?no_track_activity=1", headers, context))
    except ERRORS:
        terminals = []  # no terminal support installed
    busy = sum(1 for kernel in kernels if kernel.get("execution_state") == "busy")
    times = [epoch(item["last_activity"]) for item in kernels + terminals if item.get("last_activity")]
    last = now if busy else (min(max(times), now) if times else None)
    text = "jupyter=%d_kernels,%d_busy,last_activity=%s" % (
        len(kernels), busy, iso(max(times)) if times else "none")
    return last, text


def gpu_busy(args):
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
        loads = [float(line) for line in out.split()]
    except ERRORS as error:
        return False, "gpu=unknown(%s)" % type(error).__name__
    return any(load > args.gpu_threshold for load in loads), "gpu=%s%%" % ",".join("%g" % x for x in loads)


def ssh_sessions(args):
    # Connections to sshd count terminals, commands, scp and tunnels alike; `who` sees terminals only.
    try:
        out = subprocess.run(["ss", "-Htn", "state", "established", "( sport = :%d )" % args.ssh_port],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except ERRORS as error:
        return 0, "ssh=unknown(%s)" % type(error).__name__
    count = len([line for line in out.splitlines() if line.strip()])
    return count, "ssh=%d" % count


def limit(args, state):
    if args.idle_minutes is not None:
        return args.idle_minutes, "option"
    try:
        imds = args.imds_url.rstrip("/") + "/latest/"
        token = fetch(imds + "api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, method="PUT")
        minutes = int(fetch(imds + "meta-data/tags/instance/" + TAG, {"X-aws-ec2-metadata-token": token}))
        if minutes >= 0:
            return minutes, "tag"
        raise ValueError(minutes)
    except ERRORS as error:
        minutes = state.get("limit", DEFAULT_MINUTES)
        print("gpu-notebook-idle: instance tag %s unreadable (%s), using %d minutes" % (TAG, error, minutes))
        return minutes, "fallback"


def check(args):
    now = time.time() if args.now is None else args.now
    try:
        with open(args.state, encoding="utf-8") as handle:
            state = json.load(handle)
    except ERRORS:
        state = {}
    minutes, source = limit(args, state)
    # The state file lives in /run, empty after each boot: the idle clock starts at boot.
    last_active = state.get("last_active", now)
    reasons = []
    jupyter_at, jupyter_text = jupyter(args, now)
    if jupyter_at is not None and jupyter_at > last_active:
        last_active = jupyter_at
        reasons.append("jupyter")
    busy, gpu_text = gpu_busy(args)
    sessions, ssh_text = ssh_sessions(args)
    if busy or sessions:
        last_active = now
        reasons += ["gpu"] * busy + ["ssh"] * bool(sessions)
    idle = max(0, now - last_active)
    if minutes == 0:
        verdict, why = "keep", "disabled"
    elif idle >= minutes * 60:
        verdict, why = "stop", "idle_for_the_limit"
    else:
        verdict, why = "keep", "active:" + ",".join(reasons) if reasons else "idle_under_the_limit"

    os.makedirs(os.path.dirname(os.path.abspath(args.state)), exist_ok=True)
    with open(args.state + ".new", "w", encoding="utf-8") as handle:
        json.dump({"last_active": last_active, "limit": minutes}, handle)
    os.replace(args.state + ".new", args.state)

    action = (" action=dry-run" if args.dry_run else " action=poweroff") if verdict == "stop" else ""
    print("gpu-notebook-idle: verdict=%s idle=%dm limit=%dm(%s) now=%s last_active=%s %s %s %s reason=%s%s" % (
        verdict, idle // 60, minutes, source, iso(now), iso(last_active),
        jupyter_text, gpu_text, ssh_text, why, action), flush=True)
    if verdict == "stop" and not args.dry_run:
        subprocess.run(["systemctl", "poweroff"], check=True, timeout=60)


def ensure_token(args):
    # Made on the instance, never in user data; 0600 for the notebook user (root reads it anyway).
    if read(args.token_file):
        return
    user = pwd.getpwnam(args.owner)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.token_file)))
    with os.fdopen(handle, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    os.chown(temporary, user.pw_uid, user.pw_gid)
    os.replace(temporary, args.token_file)  # mkstemp made it 0600
    print("gpu-notebook-idle: created the idle watcher's Jupyter token %s" % args.token_file)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("check", help="observe, log the verdict, power off when idle")
    run.add_argument("--jupyter-url", required=True, help="e.g. https://127.0.0.1:8888/")
    run.add_argument("--token-file", required=True)
    run.add_argument("--cafile", help="certificate to trust for https")
    run.add_argument("--state", required=True, help="state file, on /run so each boot resets it")
    run.add_argument("--idle-minutes", type=int, help="limit; default: the instance tag " + TAG)
    run.add_argument("--imds-url", default="http://169.254.169.254")
    run.add_argument("--gpu-threshold", type=float, default=5.0, help="busy above this %% (default 5)")
    run.add_argument("--ssh-port", type=int, default=22)
    run.add_argument("--now", type=float, help="current time in epoch seconds (tests)")
    run.add_argument("--dry-run", action="store_true", help="print the verdict, never power off")
    run.set_defaults(run=check)
    token = commands.add_parser("ensure-token", help="create the Jupyter token if missing")
    token.add_argument("--token-file", required=True)
    token.add_argument("--owner", required=True, help="user the notebook server runs as")
    token.set_defaults(run=ensure_token)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
