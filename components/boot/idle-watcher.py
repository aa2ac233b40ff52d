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

A check is three steps: observe() what the machine does, decide() from those observations, the
state of the last check and the limits alone (no I/O, so it is tested in tables), then act on the
verdict. `status` reports the machine for npm run status, the last verdict included.
"""
import argparse, dataclasses, datetime, json, math, os, pwd, re, ssl, subprocess, sys, time
import urllib.parse
from typing import List, Optional

# The one AWS client on the machine (instance metadata, Signature Version 4) and the helpers the
# machine's programs share live beside this file. No __pycache__ beside them: the folder holds
# exactly what the bundle installed.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_notebook_aws import ERRORS, aws_endpoint, amz_now, fetch, imds, role_credentials, sign  # noqa: E402
from gpu_notebook_common import (boot_time, cpu_percent, cpu_sample, descendants, iso, load_machine, log_tail, notify, processes,  # noqa: E402
                                 read_json, read_text, remove, uptime, write_json)
ENDED = ("succeeded", "failed", "stopped")


# ---- what a check sees, what it decides ------------------------------------------------------

@dataclasses.dataclass
class JobSeen:
    """A job as the job runner lists it, and what a running one did since the last check."""
    name: str
    state: str  # running, interrupted, or one of ENDED
    ended_at: Optional[float] = None
    stop_when_done: bool = False
    started_at: Optional[float] = None
    log_size: Optional[int] = None  # bytes in its job.log (None: unreadable); output it wrote grows it
    cpu_percent: Optional[float] = None  # its process tree, since the last check; None without an earlier sample


@dataclasses.dataclass
class SshSeen:
    """One established SSH connection and what its sessions do."""
    peer: str  # the client's address:port
    terminal: Optional[str] = None  # pts/N: its most recently used terminal, if it has one
    terminal_at: Optional[float] = None  # that terminal's last input or output
    command: Optional[str] = None  # without a terminal: the command its session runs, if any


@dataclasses.dataclass
class Observations:
    """What one check saw. None where a source could not be read; then it counts as idle."""
    now: float
    boot_time: float
    tag_minutes: Optional[int] = None  # the limit's instance tag, when it was read
    jupyter_at: Optional[float] = None  # the latest kernel or terminal activity (now while a kernel is busy)
    jobs: Optional[List[JobSeen]] = None
    ssh: Optional[List[SshSeen]] = None
    cpu_percent: Optional[float] = None  # the notebook user's processes, since the last check
    gpu_loads: Optional[List[float]] = None  # percent, one a GPU
    cpu_sample: dict = dataclasses.field(default_factory=dict)  # what the next check measures from
    job_samples: dict = dataclasses.field(default_factory=dict)  # the same, a running job's process tree, by name
    notes: dict = dataclasses.field(default_factory=dict)  # the log's words for what each source said


@dataclasses.dataclass
class Limits:
    default_minutes: int  # until the tag has been read once
    cpu_threshold: float  # percent of one core
    gpu_threshold: float  # percent
    idle_minutes: Optional[int] = None  # given as an option: the tag is not asked
    done_grace: float = 60  # seconds after a --stop-when-done job ends, with nothing else active
    stall_minutes: int = 0  # unattended.jobStallMinutes: a running job quiet this long is stalled; 0 = never


@dataclasses.dataclass
class Verdict:
    verdict: str  # keep or stop
    reason: str
    minutes: int  # the limit
    source: str  # where the limit came from: option, tag or fallback
    idle: float  # seconds since the last activity
    last_active: float
    active: List[str]  # what was active in this check, in the order checked
    running: List[str]
    interrupted: List[str]
    done: List[str]  # --stop-when-done jobs that ended this boot
    ssh: List[List]  # [counted, peer, what] a connection
    state: dict  # what the next check starts from, and npm run status reads
    stalled: List[str] = dataclasses.field(default_factory=list)  # running jobs that no longer keep the machine up
    events: List[dict] = dataclasses.field(default_factory=list)  # what to notify: a job that stalled in this check


def limit(observations, state, limits):
    """(minutes, where they came from): the option, else the tag, else the last known, else the default."""
    if limits.idle_minutes is not None:
        return limits.idle_minutes, "option"
    if observations.tag_minutes is not None:
        return observations.tag_minutes, "tag"
    return state.get("limit", limits.default_minutes), "fallback"


def ssh_use(connection, now, window):
    """(the time the connection was last in use, None if it does not count; its description). A
    terminal counts while it had input or output within `window` seconds; a command while it runs.
    A connection that only forwards ports or holds a shared connection open does not."""
    if connection.terminal is not None:
        idle = max(0, now - connection.terminal_at)
        return (min(connection.terminal_at, now) if idle < window else None), "terminal_%s_idle_%dm" % (connection.terminal, idle // 60)
    if connection.command is not None:
        return now, "command_" + connection.command
    return None, "no_session"


def stalls(observations, state, limits, gpu_busy):
    """name -> {quiet_since, stalled_at, log_size, cpu} of each running job. A job is quiet while its
    log does not grow, its process tree stays at or under the CPU threshold and no GPU is busy; one
    quiet for the whole stall limit is stalled (since the moment the limit passed) until any of the
    three moves again. A job first seen in this check starts quiet now."""
    now, before, found = observations.now, state.get("jobs") or {}, {}
    for job in observations.jobs or []:
        if job.state != "running":
            continue
        last = before.get(job.name)
        busy = job.cpu_percent is not None and job.cpu_percent > limits.cpu_threshold
        still = last is not None and job.log_size == last.get("log_size") and not busy and not gpu_busy
        quiet_since = last["quiet_since"] if still else now
        stalled = limits.stall_minutes > 0 and now - quiet_since >= limits.stall_minutes * 60
        found[job.name] = {"quiet_since": quiet_since, "stalled_at": quiet_since + limits.stall_minutes * 60 if stalled else None,
                           "log_size": job.log_size, "cpu": observations.job_samples.get(job.name)}
    return found


def decide(observations, state, limits):
    """The verdict of one check, from what it saw, the last check's state and the limits. No I/O."""
    now = observations.now
    minutes, source = limit(observations, state, limits)
    # The state lives in /run, empty after each boot: the idle clock starts at boot.
    last_active, active = state.get("last_active", now), []

    def saw(source, at, ongoing=False):
        """A source active at `at` (None: never), or `ongoing` now, moves the idle clock."""
        nonlocal last_active
        if ongoing or (at is not None and at > last_active):
            last_active = now if ongoing else at
            active.append(source)

    saw("jupyter", observations.jupyter_at)
    jobs = observations.jobs or []
    running = [job.name for job in jobs if job.state == "running"]
    gpu_busy = observations.gpu_loads is not None and any(load > limits.gpu_threshold for load in observations.gpu_loads)
    quiet = stalls(observations, state, limits, gpu_busy)
    stalled = [name for name in running if quiet[name]["stalled_at"] is not None]
    # Ended in this boot: one that ended before it neither restarts the clock nor stops the machine again.
    ended = [job for job in jobs if job.state in ENDED and (job.ended_at or 0) >= observations.boot_time]
    done = [job.name for job in ended if job.stop_when_done]
    # A stalled job is still running, but no longer keeps the machine up.
    saw("jobs", min(max([job.ended_at for job in ended] or [0]), now), ongoing=len(stalled) < len(running))

    # A finished --stop-when-done job shortens the wait to a minute; the limit may be shorter still.
    waits = ([minutes * 60] if minutes else []) + ([limits.done_grace] if done else [])
    wait = min(waits) if waits else None
    ssh = []
    for connection in observations.ssh or []:
        at, what = ssh_use(connection, now, wait or math.inf)
        ssh.append([at is not None, connection.peer, what])
        saw("ssh", at)
    if gpu_busy:
        saw("gpu", None, ongoing=True)
    cpu_busy = observations.cpu_percent is not None and observations.cpu_percent > limits.cpu_threshold
    if cpu_busy:
        saw("cpu", None, ongoing=True)

    idle = max(0, now - last_active)
    if wait is None:
        verdict, reason = "keep", "disabled"
    elif idle >= wait:
        verdict, reason = "stop", "job_done:" + ",".join(done) if wait == limits.done_grace and done else "idle_for_the_limit"
    else:
        verdict, reason = "keep", "active:" + ",".join(active) if active else "idle_under_the_limit"
    cpu = observations.cpu_percent
    events = [{"event": "job-stalled", "job": name, "since": quiet[name]["stalled_at"], "quiet_since": quiet[name]["quiet_since"]}
              for name in stalled if not (state.get("jobs", {}).get(name) or {}).get("stalled_at")]
    # Every condition with its state and age, for npm run status ("kept up by: …; kernels: idle 45 min; …").
    conditions = {
        "jobs": [{"name": job.name, "started_at": job.started_at, "counted": job.name not in stalled,
                  "stalled_at": quiet[job.name]["stalled_at"], "quiet_since": quiet[job.name]["quiet_since"]}
                 for job in jobs if job.state == "running"],
        "kernels": {"last_activity": observations.jupyter_at, "counted": "jupyter" in active},
        "ssh": {"connections": len(ssh), "in_use": sum(counted for counted, _, _ in ssh)},
        "gpu": {"percent": None if not observations.gpu_loads else max(observations.gpu_loads), "counted": gpu_busy},
        "cpu": {"percent": None if cpu is None else round(cpu, 1), "counted": cpu_busy},
    }
    return Verdict(verdict, reason, minutes, source, idle, last_active, active, running,
                   [job.name for job in jobs if job.state == "interrupted"], done, ssh, {
                       "checked_at": now, "verdict": verdict, "reason": reason, "idle_seconds": round(idle), "limit": minutes,
                       "minutes_left": None if wait is None else max(0, math.ceil((wait - idle) / 60)),
                       "running_jobs": running, "stalled_jobs": stalled, "cpu_percent": None if cpu is None else round(cpu, 1),
                       "last_active": last_active, "cpu": observations.cpu_sample, "stall_minutes": limits.stall_minutes,
                       "conditions": conditions, "jobs": quiet}, stalled, events)


# ---- observing -------------------------------------------------------------------------------

def epoch(text):  # jupyter_server writes "2026-11-21T23:49:52.544025Z"
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def why(error):  # for log lines of key=value: the HTTP status, the network error or the message
    return str(getattr(error, "reason", None) or error).replace(" ", "_")[:80]


def output(command, **options):
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True, **options).stdout


def jupyter(args, now):
    """(time of the latest kernel or terminal activity, busy kernels counting as now; description)"""
    headers = {"Authorization": "token " + (read_text(args.token_file) or "")}
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
    """The job runner's list (the one reader of the job records), as the notebook user when run as
    root; (None, why) if it failed."""
    switch = {}
    if args.user is not None and os.geteuid() == 0:
        user = pwd.getpwnam(args.user)
        switch = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    try:
        return json.loads(output([args.job_runner, "list", "--json", "--jobs-dir", args.jobs_dir, "--run-dir", args.run_dir],
                                 **switch))["jobs"], ""
    except ERRORS + (KeyError, TypeError) as error:
        return None, "jobs=unknown(%s)" % why(getattr(error, "stderr", None) or error)


def gpu_loads(args):
    try:
        loads = [float(line) for line in output(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]).split()]
    except ERRORS as error:
        return None, "gpu=unknown(%s)" % type(error).__name__
    return loads, "gpu=%s%%" % ",".join("%g" % x for x in loads)


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


def ssh_connections(args):
    """(the established SSH connections and what their sessions do, None if unknown; why unknown)"""
    try:
        # -p: the sshd processes holding each connection; their descendants are its sessions.
        lines = output(["ss", "-Htnp", "state", "established", "( sport = :%d )" % args.ssh_port]).splitlines()
        table, ttys = processes(), terminals()
    except ERRORS as error:
        return None, "ssh=unknown(%s)" % type(error).__name__
    seen = []
    for line in lines:
        # sshd's own per-connection processes are not the session.
        session = {pid for pid in descendants(table, [int(pid) for pid in re.findall(r"pid=(\d+)", line)])
                   if not table[pid].name.startswith("sshd")}
        connection = SshSeen(line.split()[3])
        used = [ttys[table[pid].tty] for pid in session if table[pid].tty in ttys]
        if used:
            connection.terminal, connection.terminal_at = max(used, key=lambda entry: entry[1])
        elif session:
            connection.command = table[min(pid for pid in session if table[pid].ppid not in session)].name
        seen.append(connection)
    return seen, ""


def tag_minutes(args, metadata):
    """(the limit the instance tag says, None if unreadable; why)"""
    try:
        minutes = int(metadata("tags/instance/" + args.tag))
        if minutes >= 0:
            return minutes, ""
        raise ValueError(minutes)
    except ERRORS as error:
        return None, str(error)


def observe(args, metadata, state):
    now = time.time() if args.now is None else args.now
    notes = {}
    minutes = None
    if args.idle_minutes is None:
        minutes, notes["tag"] = tag_minutes(args, metadata)
    jupyter_at, notes["jupyter"] = jupyter(args, now)
    listed, notes["jobs"] = jobs(args)
    ssh, notes["ssh"] = ssh_connections(args)
    sample = cpu_sample(processes(pwd.getpwnam(args.user).pw_uid).values())
    cpu = cpu_percent(state.get("cpu"), sample)
    loads, notes["gpu"] = gpu_loads(args)
    seen, job_samples = None, {}
    if listed is not None:
        seen, table, before = [], processes(), state.get("jobs") or {}
        for job in listed:
            entry = JobSeen(job["name"], job["state"], job["ended_at"], job["stop_when_done"], job.get("started_at"))
            if job["state"] == "running":
                entry.log_size = log_size(args, job["name"])
                # The job's process tree: its command (the leader of its own process group) and all below it.
                tree = [pid for pid in [job.get("pid")] if pid in table]
                job_samples[job["name"]] = cpu_sample(table[pid] for pid in tree + sorted(descendants(table, tree)))
                entry.cpu_percent = cpu_percent((before.get(job["name"]) or {}).get("cpu"), job_samples[job["name"]])
            seen.append(entry)
    return Observations(now, args.boot_time or boot_time(), minutes, jupyter_at, seen, ssh, cpu, loads, cpu_sample=sample, notes=notes,
                        job_samples=job_samples)


def log_size(args, name):
    try:
        return os.path.getsize(os.path.join(args.jobs_dir, name, "job.log"))
    except OSError:
        return None


# ---- acting ----------------------------------------------------------------------------------

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


def log_line(args, observations, verdict, heartbeat_text):
    notes, decided = observations.notes, verdict
    jobs_text = notes["jobs"] if observations.jobs is None else "jobs=" + (",".join(
        "%s(%s)" % (what, ",".join(names)) for what, names in
        [("running", decided.running), ("interrupted", decided.interrupted), ("done", decided.done)] if names) or "none")
    ssh_text = notes["ssh"] if observations.ssh is None else "ssh=%d_of_%d_counted(%s)" % (
        sum(counted for counted, _, _ in decided.ssh), len(decided.ssh),
        ",".join("%s:%s=%s" % ("counted" if counted else "ignored", peer, what) for counted, peer, what in decided.ssh)) if decided.ssh else "ssh=none"
    cpu = observations.cpu_percent
    action = (" action=dry-run" if args.dry_run else " action=poweroff") if decided.verdict == "stop" else ""
    return "gpu-notebook-idle: verdict=%s idle=%dm limit=%dm(%s) now=%s last_active=%s %s cpu=%s %s %s %s %s reason=%s%s" % (
        decided.verdict, decided.idle // 60, decided.minutes, decided.source, iso(observations.now), iso(decided.last_active), jobs_text,
        "first_sample" if cpu is None else "%.0f%%(%s)" % (cpu, args.user), notes["jupyter"], notes["gpu"], ssh_text,
        heartbeat_text, decided.reason, action)


def act(args, metadata, observations, verdict):
    """Says where the limit came from when the tag failed, sends the heartbeat, saves the state, logs the verdict and stops."""
    if verdict.source == "fallback":
        print("gpu-notebook-idle: instance tag %s unreadable (%s), using %d minutes" % (args.tag, observations.notes["tag"], verdict.minutes))
    heartbeat_text = heartbeat(args, metadata, int(bool(verdict.active)))
    os.makedirs(os.path.dirname(os.path.abspath(args.state)), exist_ok=True)
    write_json(args.state, verdict.state, 0o644)  # `npm run status` reads it over SSH as the notebook user
    mark_stalls(args, observations, verdict)
    print(log_line(args, observations, verdict, heartbeat_text), flush=True)
    for event in verdict.events:
        # Within the check (a timer's oneshot unit ends what it leaves behind), bounded: a check a minute.
        print("gpu-notebook-idle: job %s stalled; notification: %s" % (event["job"], notify(
            args.machine, "job-stalled", dict(event, minutes=verdict.state["stall_minutes"],
                                              log=log_tail(os.path.join(args.jobs_dir, event["job"], "job.log"))),
            seconds=20, dry_run=args.dry_run)), flush=True)
    if verdict.verdict == "stop" and not args.dry_run:
        # The one stop path: the jobs warned, the user's hook, the notification and the record, then the power-off.
        if args.stop_program and args.stop_reason_file:
            write_json(args.stop_reason_file, {"reason": "idle", "detail": "idle for %d min" % (verdict.idle // 60)}, 0o644)
            subprocess.run([args.stop_program, "run", "--machine", args.machine, "--imds-url", args.imds_url])
        subprocess.run(["systemctl", "poweroff"], check=True, timeout=60)


def mark_stalls(args, observations, verdict):
    """<run-dir>/<job>.stalled for each stalled job (the job runner's list reports it), none for the others."""
    for job in observations.jobs or []:
        marker = os.path.join(args.run_dir, job.name + ".stalled")
        if job.name in verdict.stalled:
            record = verdict.state["jobs"][job.name]
            try:
                write_json(marker, {"since": record["stalled_at"], "quiet_since": record["quiet_since"]}, 0o644)
            except OSError as error:
                print("gpu-notebook-idle: cannot mark job %s stalled: %s" % (job.name, error), flush=True)
        else:
            remove(marker)


def check(args):
    try:
        with open(args.state, encoding="utf-8") as handle:
            state = json.load(handle)
    except ERRORS:
        state = {}
    metadata = imds(args.imds_url.rstrip("/"))
    observations = observe(args, metadata, state)
    limits = Limits(args.default_minutes, args.cpu_threshold, args.gpu_threshold, args.idle_minutes, stall_minutes=args.stall_minutes)
    act(args, metadata, observations, decide(observations, state, limits))


# ---- status ----------------------------------------------------------------------------------

def read_idle_state(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle), None
    except FileNotFoundError:
        return None, "unknown: no state from the idle watcher at %s yet" % path
    except (OSError, ValueError) as error:
        return None, "unknown: %s is unreadable (%s)" % (path, error)


def read_gpus(command):
    try:
        gpus = []
        for line in output([command, "--query-gpu=name,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"],
                           ).strip().splitlines():
            name, used_percent, used, total = [field.strip() for field in line.rsplit(",", 3)]
            gpus.append({"name": name, "utilization_percent": float(used_percent),
                         "memory_used_mib": float(used), "memory_total_mib": float(total)})
        return gpus, None
    except FileNotFoundError:
        return None, "no GPU information (%s not found)" % command
    except ERRORS as error:
        return None, "no GPU information (%s: %s)" % (command, error)


def notify_outcomes(path):
    """The last failed and the last delivered notification (the notifier's delivery log), or None without a log."""
    if not path or not os.path.exists(path):
        return None
    from gpu_notebook_notify import last_outcomes  # only here: the check never pays for its network modules
    failed, delivered = last_outcomes(path)
    return {"last_failure": failed, "last_delivered": delivered}


def status(args):
    """The machine for npm run status (which words it): uptime, the last verdict, the running jobs,
    the GPUs, the notebooks' disk, and an update or a set-up waiting."""
    listed, error = jobs(args)
    if listed is None:
        sys.exit("gpu-notebook-idle: cannot list the jobs: " + error)
    idle, idle_error = read_idle_state(args.state)
    gpus, gpu_error = read_gpus(args.nvidia_smi)
    notebooks = os.path.dirname(os.path.normpath(args.jobs_dir))
    try:
        fs = os.statvfs(notebooks)
        disk = {"path": notebooks, "own_volume": os.path.ismount(notebooks),
                "total_bytes": fs.f_blocks * fs.f_frsize, "used_bytes": (fs.f_blocks - fs.f_bfree) * fs.f_frsize}
        disk_error = None
    except OSError as error:
        disk, disk_error = None, "%s: %s" % (notebooks, error.strerror)
    json.dump({"now": time.time(), "uptime_seconds": uptime(), "idle": idle, "idle_error": idle_error,
               "jobs": [job for job in listed if job["state"] == "running"],
               "gpus": gpus, "gpu_error": gpu_error, "disk": disk, "disk_error": disk_error,
               # An update applied over SSH that the notebook server takes at its next start (npm run up),
               # and the reason the last bundle fetch gave up.
               "update_pending": read_text(args.update_pending), "bundle_failed": read_text(args.bundle_failed),
               "notify": notify_outcomes(args.notify_log),
               # The last run of the user's setup file on this machine (gpu-notebook-setup writes it).
               "setup": read_json(args.setup_state), "setup_file": args.setup_file}, sys.stdout)
    print()


# ---- the command line ------------------------------------------------------------------------

def from_machine(args, parser):
    """Fills in the facts the watcher shares with the rest of gpu-notebook from the machine file
    (components/contract.ts rendered into the bundle): this program keeps no defaults for them.
    An option given (tests) wins; status needs the file only for what no option gave."""
    try:
        machine = load_machine(args.machine) if args.machine else {}
    except (OSError, ValueError) as error:
        machine, unreadable = {}, "cannot read the machine file %s (%s): has the machine finished its set-up?" % (args.machine, error)
    else:
        unreadable = "give --machine FILE or"
    paths, notebook = machine.get("paths", {}), machine.get("notebook", {})
    facts = {
        "state": paths.get("idleState"), "job_runner": paths.get("jobRunner"), "run_dir": paths.get("jobsRunDir"),
        "jobs_dir": notebook.get("jobsDir"), "user": notebook.get("user"),
        "update_pending": paths.get("updatePending"), "bundle_failed": paths.get("bundleFailed"),
        "notify_log": paths.get("notifyLog"), "setup_state": paths.get("setupState"), "setup_file": notebook.get("setupFile"),
    }
    if args.command == "check":
        port = notebook.get("port")
        facts.update({
            "jupyter_url": port and "https://127.0.0.1:%d/" % port, "cafile": paths.get("certFile"), "token_file": paths.get("apiTokenFile"),
            "tag": machine.get("tags", {}).get("idleStop"), "ssh_port": machine.get("sshPort"),
            "default_minutes": notebook.get("defaultIdleMinutes"),
            # A machine file from before unattended runs has no stall limit: jobs keep the machine up, as they did then.
            "stall_minutes": (machine.get("unattended") or {}).get("jobStallMinutes", 0),
            "stop_program": paths.get("stopProgram"), "stop_reason_file": paths.get("stopReasonFile"),
            **{name: machine.get("heartbeat", {}).get(key) for name, key in (("namespace", "namespace"), ("metric", "metricName"), ("dimension", "dimension"))},
        })
    else:
        facts["user"] = None  # status runs as whoever asks, over SSH the notebook user
    for name, value in facts.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    missing = [name for name in ("state", "job_runner", "run_dir", "jobs_dir") if getattr(args, name) is None]
    if missing:
        parser.error("%s %s" % (unreadable, ", ".join("--" + name.replace("_", "-") for name in missing)))
    args.jobs_dir = os.path.abspath(os.path.expanduser(args.jobs_dir))


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
    report = commands.add_parser("status", help="the machine as JSON, for npm run status: run as the notebook user")
    report.add_argument("--machine", help="the machine file (components/contract.ts renders it)")
    report.add_argument("--json", action="store_true", help="JSON (the only format; npm run status words it)")
    # For tests, in place of the machine file's paths.
    for name, what in (("jobs-dir", "the jobs folder"), ("run-dir", "where running jobs' markers live"),
                       ("idle-state", "the watcher's state file"), ("job-runner", "the job runner"),
                       ("notify-log", "the notifications' delivery log")):
        report.add_argument("--" + name, help="%s; default: the machine file's" % what)
    report.add_argument("--nvidia-smi", default="nvidia-smi")
    report.set_defaults(run=status)
    args = parser.parse_args(argv)
    if args.command == "status":
        args.state = args.idle_state
    from_machine(args, parser)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
