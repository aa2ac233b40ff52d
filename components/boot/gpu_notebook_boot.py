#!/usr/bin/python3
"""gpu-notebook's boot bundle installer: install the bundle the machine is told, then set it up.

Run as root by gpu-notebook-bundle.service at every boot, at first boot by the user data's
`gpu_notebook_aws.py INSTALLER OPTIONS` (which fetched this very file from the bundle), and by
`npm run up` over SSH to apply a new bundle at once (--live). All three pass the same fetch
options, components/contract.ts bundleFetchOptions, so each installs the bundle the tag names.

The bundle comes from gpu_notebook_aws.obtain: the instance tag --tag names it, the key ends in its
SHA-256, and a download that does not match is refused. A verified bundle is kept under
--state-dir by its hash, so a later boot without S3 still installs it; when there is none, the
machine keeps what an earlier bundle installed and --failed-marker says why (npm run status shows
it; the unit sends the reason to the EC2 console output too).

Installing checks every entry first (plain files below / only), then writes each changed file in
place atomically. At boot it then runs the setup commands the bundle's machine file lists; over
SSH (--live) it runs the live ones instead, which restart what can restart without ending the
user's kernels, and a change the notebook server takes only at its next start is written to the
machine file's updatePending path, for npm run status.
"""
import argparse, io, json, os, subprocess, sys, tarfile

# The one AWS client on the machine (instance metadata, SigV4, the fetch) lives beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_notebook_aws import ERRORS, Refused, fetch_arguments, give_up, obtain, parse_ref, rooted, say, verified, write_atomically  # noqa: E402

# Where the machine file sits inside the bundle (components/contract.ts INSTANCE_PATHS.machineFile).
MACHINE_FILE_IN_BUNDLE = "etc/gpu-notebook/machine.json"


def entries(data):
    """(relative path, mode, bytes) of every file in the bundle; refuses anything but plain files below /."""
    files = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            name = member.name
            if not member.isfile() or name.startswith("/") or ".." in name.split("/"):
                raise Refused("entry %r is not a plain file below /" % name)
            files.append((name, member.mode & 0o7777, archive.extractfile(member).read()))
    return files


def kept_copy(args, sha):
    return os.path.join(args.state_dir, "bundles", sha + ".tar.gz")


def kept(args, sha):
    """The verified copy of bundle sha kept from an earlier fetch, or None."""
    try:
        with open(kept_copy(args, sha), "rb") as handle:
            data = verified(handle.read(), sha)
    except (OSError, Refused):
        return None
    say("bundle %s: the verified copy kept from an earlier fetch" % sha[:12])
    return data


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def install(args, ref, data):
    """Writes the bundle's files below --root; returns the machine file and the paths whose content changed."""
    files = entries(data)
    contents = {name: content for name, _, content in files}
    if MACHINE_FILE_IN_BUNDLE not in contents:
        raise Refused("it has no %s" % MACHINE_FILE_IN_BUNDLE)
    machine = json.loads(contents[MACHINE_FILE_IN_BUNDLE])
    sha = parse_ref(ref)[2]
    if read_bytes(kept_copy(args, sha)) != data:
        os.makedirs(os.path.dirname(kept_copy(args, sha)), mode=0o755, exist_ok=True)
        write_atomically(kept_copy(args, sha), data, 0o644)
    changed = []
    for name, mode, content in files:
        target = os.path.join(args.root, name)
        if read_bytes(target) == content and (os.stat(target).st_mode & 0o7777) == mode:
            continue
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        write_atomically(target, content, mode)
        changed.append("/" + name)
    write_atomically(os.path.join(args.state_dir, "installed"), (ref + "\n").encode(), 0o644)
    say("bundle %s installed: %d files changed" % (sha[:12], len(changed)))
    return machine, changed


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("install", help="install the bundle, then set the machine up")
    fetch_arguments(run)
    run.add_argument("--live", action="store_true",
                     help="the machine is running (npm run up): run the bundle's live commands, not its boot setup")
    run.add_argument("--no-setup", action="store_true", help="install the files only, run no command (tests)")
    run.add_argument("--run-with", metavar="PROGRAM", help="run each command as PROGRAM COMMAND... (tests: a recorder)")
    args = parser.parse_args(argv)
    # The commands act on this host's /, whatever --root says: below another root (a test) they
    # run only through --run-with, so no forgotten option can mount or enable anything on the host.
    if args.root != "/" and not (args.no_setup or args.run_with):
        parser.error("--root %s: the setup commands would act on this host's /, not on that root: "
                     "add --run-with PROGRAM (or --no-setup)" % args.root)
    args = rooted(args)
    try:
        ref, data = obtain(args, lambda sha: kept(args, sha))
        machine, changed = install(args, ref, data)
    except (RuntimeError,) + ERRORS as error:
        installed = read_bytes(os.path.join(args.state_dir, "installed"))
        return give_up(args, error, installed and "the machine keeps the bundle installed before (%s)" % installed.decode().strip())
    try:
        os.unlink(args.failed_marker)
    except FileNotFoundError:
        pass
    steps = [] if args.no_setup else machine["live"] if args.live else machine["setup"]
    for step in steps:
        say("running " + " ".join(step))
        subprocess.run(([args.run_with] if args.run_with else []) + step, check=True, timeout=1800)
    waiting = [path for path in changed if path in machine["restartPendingFor"]]
    if args.live and waiting:
        pending = os.path.join(args.root, machine["paths"]["updatePending"].lstrip("/"))
        os.makedirs(os.path.dirname(pending), exist_ok=True)
        write_atomically(pending, ("%s\n" % " ".join(waiting)).encode(), 0o644)
        say("the notebook server takes %s at its next start; its kernels keep running until then" % ", ".join(waiting))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
