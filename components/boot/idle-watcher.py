#!/usr/bin/python3
"""gpu-notebook idle watcher, run every minute as root by gpu-notebook-idle.timer.

Powers the machine off (EC2 then stops it: disk and IP stay) once, for the whole limit, nothing was
active: no job running (as the job runner lists them, whatever their load), no Jupyter kernel busy
or active (REST API, machine token, its own reads not counted), no GPU above its threshold, no SSH
connection in use (a terminal with input or output, or a command running: a tunnel alone is not),
and the notebook user's processes below the CPU threshold. The idle clock starts at boot and again
when the last job ends. Once a --stop-when-done job has ended this boot, a minute
without activity is enough. Each decision is one line in the journal, and one heartbeat (Active 1
or 0) to CloudWatch, which the backstop alarm watches. The limit is an instance tag read through
IMDS, so changing it needs no new machine; 0 turns idle stop off.
"""
import argparse, datetime, json, math, os, pwd, re, ssl, subprocess, sys, time
import urllib.parse

# The one AWS client on the machine (instance metadata, Signature Version 4) lives beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_notebook_aws import ERRORS, aws_endpoint, amz_now, fetch, imds, role_credentials, sign  # noqa: E402
DONE_GRACE = 60  # seconds after a --stop-when-done job ends, with nothing else active


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


def why(error):  # for log lines of key=value: the HTTP status, the network error or the message
    return str(getattr(error, "reason", None) or error).replace(" ", "_")[:80]


def output(command, **options):
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True, **options).stdout


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
        return None, "jupyter=unreachable(%s)" % why(error)
    try:
        terminals = json.loads(fetch(base + "/api/terminals?no_track_activity=1", headers, context))
    except ERRORS:
        terminals = []  # no terminal support installed
    busy = sum(1 for kernel in kernels if kernel.get("execution_state") == "busy")
    times = [epoch(item["last_activity"]) for item in kernels + terminals if item.get("last_activity")]
    last = now if busy else (min(max(times), now) if times else None)
    return last, "jupyter=%d_kernels,%d_busy,last_activity=%s" % (len(kernels), busy, iso(max(times)) if times else "none")


def jobs(args):
    """The job runner's list (the one reader of the job records), run as the notebook user; None if it failed."""
    user = pwd.getpwnam(args.user)
    switch = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if os.geteuid() == 0 else {}
    try:
        return json.loads(output([args.job_runner, "list", "--json", "--jobs-dir", args.jobs_dir, "--run-dir", args.run_dir],
                                 **switch))["jobs"], ""
    except ERRORS + (KeyError, TypeError) as error:
        return None, "jobs=unknown(%s)" % why(getattr(error, "stderr", None) or error)


def user_cpu(args, previous):
    """Percent of one core the user's processes used since the last run (None on a boot's first run), and
    the sample to compare with next time: CPU ticks per process, keyed by pid and start time so a reused pid
    is a new process. A process started since the last run counts in full; cutime and cstime add the
    children it waited for (the commands of a shell loop)."""
    uid, hertz, ticks = pwd.getpwnam(args.user).pw_uid, os.sysconf("SC_CLK_TCK"), {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat("/proc/" + pid).st_uid == uid:
                fields = read("/proc/%s/stat" % pid).rsplit(")", 1)[1].split()
                ticks["%s:%s" % (pid, fields[19])] = sum(int(value) for value in fields[11:15])
        except (OSError, IndexError):
            continue  # gone meanwhile
    sample = {"uptime": float(read("/proc/uptime").split()[0]), "ticks": ticks}
    if not previous or sample["uptime"] <= previous["uptime"]:
        return None, sample
    used = sum(max(0, total - previous["ticks"].get(key, 0)) if key in previous["ticks"] else
               total * (int(key.split(":")[1]) / hertz >= previous["uptime"]) for key, total in ticks.items())
    return 100.0 * used / hertz / (sample["uptime"] - previous["uptime"]), sample


def gpu_busy(args):
    try:
        loads = [float(line) for line in output(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]).split()]
    except ERRORS as error:
        return False, "gpu=unknown(%s)" % type(error).__name__
    return any(load > args.gpu_threshold for load in loads), "gpu=%s%%" % ",".join("%g" % x for x in loads)


def processes():
    """pid -> (parent pid, command name, controlling terminal's device number or 0), for every process."""
    table = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        stat = read("/proc/%s/stat" % pid)
        try:
            fields = stat.rsplit(")", 1)[1].split()
            table[int(pid)] = (int(fields[1]), stat[stat.index("(") + 1:stat.rindex(")")], int(fields[4]))
        except (ValueError, IndexError):
            continue  # gone meanwhile
    return table


def terminals():
    """Device number -> (pts/N, its last input or output). As `w` reads idleness: the kernel moves a
    terminal's atime on input and its mtime on output (to 8 s)."""
    found = {}
    for name in os.listdir("/dev/pts"):
        try:
            info = os.stat("/dev/pts/" + name)
        except OSError:
            continue
        found[info.st_rdev] = ("pts/" + name, max(info.st_atime, info.st_mtime))
    return found


def ssh_connections(args, now, window):
    """(the latest time an SSH connection was in use, None if none counted; description). A connection
    counts while it does something: a terminal with input or output within `window` seconds, or a
    command still running (rsync, `npm run ssh -- cmd`). One that only forwards ports (a forgotten
    `npm run tunnel`) or holds a shared connection open does not: what goes through a tunnel is
    counted by its own signal (Jupyter's kernels), and an idle terminal is idle however long it stays."""
    try:
        # -p: the sshd processes holding each connection; their descendants are its sessions.
        lines = output(["ss", "-Htnp", "state", "established", "( sport = :%d )" % args.ssh_port]).splitlines()
        table, ttys = processes(), terminals()
    except ERRORS as error:
        return None, "ssh=unknown(%s)" % type(error).__name__
    children = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    times, words, counted = [], [], 0
    for line in lines:
        todo, session = [int(pid) for pid in re.findall(r"pid=(\d+)", line)], set()
        while todo:
            for child in children.get(todo.pop(), []):
                todo.append(child)
                if not table[child][1].startswith("sshd"):  # sshd's own per-connection processes
                    session.add(child)
        used = [ttys[table[pid][2]] for pid in session if table[pid][2] in ttys]
        if used:
            name, at = max(used, key=lambda entry: entry[1])
            idle = max(0, now - at)
            what, at = "terminal_%s_idle_%dm" % (name, idle // 60), (min(at, now) if idle < window else None)
        elif session:
            top = min(pid for pid in session if table[pid][0] not in session)
            what, at = "command_" + table[top][1], now
        else:
            what, at = "no_session", None
        counted += at is not None
        times += [at] if at is not None else []
        words.append("%s:%s=%s" % ("counted" if at is not None else "ignored", line.split()[3], what))
    return (max(times) if times else None), ("ssh=%d_of_%d_counted(%s)" % (counted, len(lines), ",".join(words)) if lines else "ssh=none")


def limit(args, metadata, state):
    if args.idle_minutes is not None:
        return args.idle_minutes, "option"
    try:
        minutes = int(metadata("tags/instance/" + args.tag))
        if minutes >= 0:
            return minutes, "tag"
        raise ValueError(minutes)
    except ERRORS as error:
        minutes = state.get("limit", args.default_minutes)
        print("gpu-notebook-idle: instance tag %s unreadable (%s), using %d minutes" % (args.tag, error, minutes))
        return minutes, "fallback"


def heartbeat(args, metadata, value):
    """Publishes the heartbeat through the instance role (stdlib only: the AMI's system Python has no SDK); never fatal."""
    try:
        region, instance = metadata("placement/region"), metadata("instance-id")
        call = "PutMetricData region=%s namespace=%s metric=%s dimension=%s=%s value=%d" % (
            region, args.namespace, args.metric, args.dimension, instance, value)
        if args.dry_run:
            print("gpu-notebook-idle: dry-run: would call CloudWatch " + call)
            return "heartbeat=%d(dry-run)" % value
        url = args.monitoring_url or aws_endpoint("monitoring", region) + "/"
        body = urllib.parse.urlencode([
            ("Action", "PutMetricData"), ("Version", "2010-08-01"), ("Namespace", args.namespace),
            ("MetricData.member.1.MetricName", args.metric), ("MetricData.member.1.Value", value),
            ("MetricData.member.1.Dimensions.member.1.Name", args.dimension),
            ("MetricData.member.1.Dimensions.member.1.Value", instance)]).encode()
        headers = sign("POST", url, body, region, "monitoring", role_credentials(metadata), amz_now(),
                       {"content-type": "application/x-www-form-urlencoded; charset=utf-8"})
        fetch(url, headers, method="POST", data=body)
        return "heartbeat=%d" % value
    except (ERRORS + (KeyError, IndexError)) as error:
        return "heartbeat=%d(failed:%s)" % (value, why(error))


def check(args):
    now = time.time() if args.now is None else args.now
    try:
        with open(args.state, encoding="utf-8") as handle:
            state = json.load(handle)
    except ERRORS:
        state = {}
    metadata = imds(args.imds_url.rstrip("/"))
    minutes, source = limit(args, metadata, state)
    # The state file lives in /run, empty after each boot: the idle clock starts at boot.
    last_active = state.get("last_active", now)
    reasons = []
    jupyter_at, jupyter_text = jupyter(args, now)
    if jupyter_at is not None and jupyter_at > last_active:
        last_active = jupyter_at
        reasons.append("jupyter")

    listed, jobs_text = jobs(args)
    named = lambda states: [job for job in listed or [] if job["state"] in states]
    names = lambda these: ",".join(job["name"] for job in these)
    running, interrupted = named(["running"]), named(["interrupted"])
    # Ended in this boot: one that ended before it neither restarts the clock nor stops the machine again.
    booted = args.boot_time or float(read("/proc/stat").split("btime ")[1].split()[0])
    ended = [job for job in named(["succeeded", "failed", "stopped"]) if (job["ended_at"] or 0) >= booted]
    done = [job for job in ended if job["stop_when_done"]]
    ended_at = min(max([job["ended_at"] for job in ended] or [0]), now)
    if running or ended_at > last_active:
        last_active = now if running else ended_at
        reasons.append("jobs")
    if listed is not None:
        jobs_text = "jobs=" + (",".join("%s(%s)" % (what, names(these)) for what, these in
                                        [("running", running), ("interrupted", interrupted), ("done", done)] if these) or "none")

    # A finished --stop-when-done job shortens the wait to a minute; the limit may be shorter still.
    waits = [minutes * 60] * bool(minutes) + [DONE_GRACE] * bool(done)
    wait = min(waits) if waits else None
    ssh_at, ssh_text = ssh_connections(args, now, wait or math.inf)
    if ssh_at is not None and ssh_at > last_active:
        last_active = ssh_at
        reasons.append("ssh")

    cpu, sample = user_cpu(args, state.get("cpu"))
    busy, gpu_text = gpu_busy(args)
    heavy = cpu is not None and cpu > args.cpu_threshold
    if busy or heavy:
        last_active = now
        reasons += ["gpu"] * busy + ["cpu"] * heavy
    idle = max(0, now - last_active)
    if wait is None:
        verdict, reason = "keep", "disabled"
    elif idle >= wait:
        verdict, reason = "stop", "job_done:" + names(done) if wait == DONE_GRACE and done else "idle_for_the_limit"
    else:
        verdict, reason = "keep", "active:" + ",".join(reasons) if reasons else "idle_under_the_limit"
    heartbeat_text = heartbeat(args, metadata, int(bool(reasons)))

    os.makedirs(os.path.dirname(os.path.abspath(args.state)), exist_ok=True)
    with open(args.state + ".new", "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o644)  # `npm run status` reads it over SSH as the notebook user
        json.dump({"checked_at": now, "verdict": verdict, "reason": reason, "idle_seconds": round(idle), "limit": minutes,
                   "minutes_left": None if wait is None else max(0, math.ceil((wait - idle) / 60)),
                   "running_jobs": names(running).split(",") if running else [], "cpu_percent": None if cpu is None else round(cpu, 1),
                   "last_active": last_active, "cpu": sample}, handle)
    os.replace(args.state + ".new", args.state)

    action = (" action=dry-run" if args.dry_run else " action=poweroff") if verdict == "stop" else ""
    print("gpu-notebook-idle: verdict=%s idle=%dm limit=%dm(%s) now=%s last_active=%s %s cpu=%s %s %s %s %s reason=%s%s" % (
        verdict, idle // 60, minutes, source, iso(now), iso(last_active), jobs_text,
        "first_sample" if cpu is None else "%.0f%%(%s)" % (cpu, args.user), jupyter_text, gpu_text, ssh_text,
        heartbeat_text, reason, action), flush=True)
    if verdict == "stop" and not args.dry_run:
        subprocess.run(["systemctl", "poweroff"], check=True, timeout=60)


def from_machine(args):
    """Fills in the facts the watcher shares with the rest of gpu-notebook from the machine file
    (components/contract.ts rendered into the bundle): this program keeps no defaults for them."""
    with open(args.machine, encoding="utf-8") as handle:
        machine = json.load(handle)
    paths, notebook = machine["paths"], machine["notebook"]
    if args.jupyter_url is None:
        args.jupyter_url = "https://127.0.0.1:%d/" % notebook["port"]
    args.cafile = args.cafile or paths["certFile"]
    args.token_file, args.state = args.token_file or paths["apiTokenFile"], args.state or paths["idleState"]
    args.job_runner, args.run_dir = paths["jobRunner"], paths["jobsRunDir"]
    args.tag, args.ssh_port = machine["tags"]["idleStop"], args.ssh_port or machine["sshPort"]
    args.user, args.jobs_dir, args.default_minutes = args.user or notebook["user"], notebook["jobsDir"], notebook["defaultIdleMinutes"]
    args.namespace, args.metric, args.dimension = (machine["heartbeat"][name] for name in ("namespace", "metricName", "dimension"))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("check", help="observe, log the verdict, send the heartbeat, power off when idle")
    run.add_argument("--machine", required=True,
                     help="the machine file (components/contract.ts renders it): paths, the notebook user, the tag, "
                          "the default limit (until the tag has been read once), the heartbeat's names")
    run.add_argument("--idle-minutes", type=int, help="the limit; default: the instance tag")
    run.add_argument("--gpu-threshold", type=float, default=5.0, help="a GPU is busy above this %%")
    # An idle Jupyter, kernel and shell use well under 2% of a core, while data preparation, a
    # download or a training loop started by hand use tens of percent; 10% (6 CPU-seconds a minute)
    # keeps a wide margin.
    run.add_argument("--cpu-threshold", type=float, default=10.0,
                     help="the user's processes are busy above this %% of one core since the last run (a minute)")
    run.add_argument("--dry-run", action="store_true", help="print the verdict and the heartbeat call, never act")
    # For tests, in place of the machine file's: another notebook server, token, state file, SSH
    # port or notebook user; and a clock, a boot time, metadata or CloudWatch endpoint.
    for name in ("jupyter-url", "cafile", "token-file", "state", "user"):
        run.add_argument("--" + name)
    run.add_argument("--ssh-port", type=int)
    for name in ("now", "boot-time"):
        run.add_argument("--" + name, type=float)
    run.add_argument("--imds-url", default="http://169.254.169.254")
    run.add_argument("--monitoring-url")
    run.set_defaults(run=check)
    args = parser.parse_args(argv)
    from_machine(args)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
