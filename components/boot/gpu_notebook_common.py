"""What every gpu-notebook program on the machine shares: the machine file, files written in one
step, and the processes as /proc tells them. Imported by the idle watcher, the job runner and the
boot installer from beside them. Stdlib only and cheap to import: the job runner imports it on
every call the user scripts make over SSH.
"""
import collections, datetime, json, os, subprocess, sys

# One process as /proc/PID/stat tells it. ticks: CPU time of the process and of the children it
# waited for (utime + stime + cutime + cstime); start: when it started, in ticks since boot, which
# with the pid names it even after the pid is reused; tty: its controlling terminal's device number.
Process = collections.namedtuple("Process", "pid name ppid pgrp tty ticks start state")


def load_machine(path):
    """The machine file (components/contract.ts rendered into the bundle): paths, names, settings."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_text(path):
    """A small file's text, stripped; None when it is absent, unreadable or empty."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except (OSError, TypeError):
        return None


def read_json(path):
    """A small JSON file's object; None when it is absent, unreadable or not an object."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
        return value if isinstance(value, dict) else None
    except (OSError, TypeError, ValueError):
        return None


def write_atomically(path, data, mode):
    """Replaces path with data (bytes) in one step, so a reader sees the old file or the new one."""
    # The one implementation is the bootstrap's: the user data carries gpu_notebook_aws.py alone to
    # the first boot, before any bundle exists, so it cannot import this file. Imported here when
    # first needed, so the job runner's reading commands do not pay for its network modules.
    from gpu_notebook_aws import write_atomically as write
    write(path, data, mode)


def write_json(path, value, mode=0o644):
    write_atomically(path, (json.dumps(value, indent=1) + "\n").encode(), mode)


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def duration(seconds):
    """A span as people read it: 45 s, 12 min, 2 h 10 min."""
    minutes = int(max(0, seconds)) // 60
    return "%d h %d min" % (minutes // 60, minutes % 60) if minutes >= 60 else "%d min" % minutes if minutes else "%d s" % max(0, seconds)


def log_tail(path, lines=10):
    """The last lines of a log (from its last 16 KiB), or None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16 * 1024))
            return "\n".join(handle.read().decode("utf-8", "replace").splitlines()[-lines:]) or None
    except OSError:
        return None


def notify(machine_path, event, facts, seconds=30, dry_run=False):
    """Hands an event to the notifier (the machine file's paths.notifier) and waits at most `seconds`
    (plus a margin) for it: a notification never holds up for long, nor breaks, what it reports.
    A separate process, so the callers do not load its network modules, and a hung delivery can be
    ended. Nothing happens without a machine file that names channels."""
    try:
        machine = load_machine(machine_path)
        notifier = machine["paths"]["notifier"]
    except (OSError, ValueError, KeyError, TypeError):
        return "no notifier"
    if not (machine.get("unattended") or {}).get("notify"):
        return "no channel"
    command = [sys.executable, notifier, "send", "--machine", machine_path, "--event", event, "--facts", json.dumps(facts),
               "--seconds", str(seconds)]
    if dry_run:
        return "dry-run: would run " + " ".join(command[1:4] + ["--event", event])
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return "the notifier failed: %s" % error


def iso(seconds, millis=False):
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if millis else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def process(pid):
    """The Process of pid, or None when there is none (or it ended while being read)."""
    try:
        with open("/proc/%d/stat" % int(pid), encoding="utf-8", errors="replace") as handle:
            stat = handle.read()
        # The command name may hold spaces and parentheses; the fields after the last ')' do not.
        # fields[0] is proc(5)'s field 3 (state): field N is fields[N - 3].
        fields = stat.rsplit(")", 1)[1].split()
        return Process(int(pid), stat[stat.index("(") + 1:stat.rindex(")")], int(fields[1]), int(fields[2]), int(fields[4]),
                       sum(int(value) for value in fields[11:15]), int(fields[19]), fields[0])
    except (OSError, ValueError, IndexError):
        return None


def processes(uid=None):
    """pid -> Process of every process (of user uid only, when given)."""
    table = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if uid is not None and os.stat("/proc/" + pid).st_uid != uid:
                continue
        except OSError:
            continue  # gone meanwhile
        found = process(pid)
        if found is not None:
            table[found.pid] = found
    return table


def descendants(table, roots):
    """The pids below the roots in the process tree of table (a processes() answer), roots excluded."""
    children = {}
    for found in table.values():
        children.setdefault(found.ppid, []).append(found.pid)
    below, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in below:
                below.add(child)
                todo.append(child)
    return below


def uptime():
    with open("/proc/uptime", encoding="utf-8") as handle:
        return float(handle.read().split()[0])


def boot_time():
    """When the machine booted, in epoch seconds (/proc/stat's btime)."""
    with open("/proc/stat", encoding="utf-8") as handle:
        return float(handle.read().split("btime ")[1].split()[0])


def cpu_sample(found):
    """A sample of the CPU used so far by the processes found (Process values): ticks per process,
    keyed by pid and start time so a reused pid is a new process. Kept as JSON between runs."""
    return {"uptime": uptime(), "ticks": {"%d:%d" % (each.pid, each.start): each.ticks for each in found}}


def cpu_percent(previous, sample):
    """Percent of one core the sampled processes used between two samples; None without an earlier
    one from this boot. A process started since the earlier sample counts in full."""
    if not previous or sample["uptime"] <= previous["uptime"]:
        return None
    hertz, before = os.sysconf("SC_CLK_TCK"), previous["ticks"]

    def used(key, total):
        if key in before:
            return max(0, total - before[key])
        started = int(key.split(":")[1]) / hertz
        return total if started >= previous["uptime"] else 0
    return 100.0 * sum(used(key, total) for key, total in sample["ticks"].items()) / hertz / (sample["uptime"] - previous["uptime"])
