#!/usr/bin/python3
"""gpu-notebook's notifier: tells the notebook's owner what happened on the machine.

An event (a job finished, failed or stalled; the machine is stopping, and why; it has started) goes
to each channel the machine file's `unattended.notify` names: an SNS Publish to the notebook's
topic (email), and a JSON POST to the webhook whose URL only this instance's role can read (an SSM
SecureString, fetched at each delivery, never written anywhere). The POST carries `text` (Slack)
and `content` (Discord). Both are signed with the instance role's credentials from instance
metadata (Signature Version 4, stdlib only: the AMI's system Python has no SDK).

Delivery never blocks or breaks what it reports: each channel is tried a few times with backoff,
all within one deadline, and every attempt's outcome is one JSON line in the delivery log
(npm run status shows the last failure). `test` sends one test message (npm run notify-test) and
exits non-zero when no channel delivered it.
"""
import argparse, json, os, sys, threading, time, urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_notebook_aws import ERRORS, amz_now, aws_endpoint, fetch, imds, role_credentials, sign  # noqa: E402
from gpu_notebook_common import duration, iso, load_machine  # noqa: E402

# Instance metadata and the AWS endpoints, replaced only by tests (stand-ins on 127.0.0.1).
IMDS_URL = os.environ.get("GPU_NOTEBOOK_IMDS_URL") or "http://169.254.169.254"
ATTEMPTS = 3
FIRST_PAUSE = 1.0  # seconds before the second attempt, doubling
SUBJECT_LIMIT = 100  # SNS refuses a longer Subject
DISCORD_LIMIT = 2000  # Discord refuses a longer content
STOP_WORDS = {
    "idle": "idle stop", "backstop": "the backstop (no heartbeat from the idle watcher)", "spot": "a spot interruption",
    "user": "npm run stop", "elsewhere": "a stop from elsewhere (the console, the API or the machine itself)",
}


def endpoint(service, region):
    return os.environ.get("GPU_NOTEBOOK_ENDPOINT_" + service.upper()) or aws_endpoint(service, region)


class Aws:
    """The instance's region, id and role, read from instance metadata once, and signed calls with them."""

    def __init__(self, imds_url=None):
        self.metadata = imds((imds_url or IMDS_URL).rstrip("/"))
        self.cache = {}

    def fact(self, name, read):
        if name not in self.cache:
            self.cache[name] = read()
        return self.cache[name]

    def region(self):
        return self.fact("region", lambda: self.metadata("placement/region"))

    def instance_id(self):
        return self.fact("instance", lambda: self.metadata("instance-id"))

    def post(self, service, region, body, headers, timeout):
        url = endpoint(service, region) + "/"
        credentials = self.fact("credentials", lambda: role_credentials(self.metadata))
        return fetch(url, sign("POST", url, body, region, service, credentials, amz_now(), headers), method="POST", data=body,
                     timeout=timeout)

    def ssm(self, action, parameters, timeout=5):
        """One SSM call (its JSON protocol); its JSON answer."""
        answer = self.post("ssm", self.region(), json.dumps(parameters).encode(), {
            "content-type": "application/x-amz-json-1.1", "x-amz-target": "AmazonSSM." + action}, timeout)
        return json.loads(answer or "{}")

    def publish(self, topic_arn, subject, message, timeout=5):
        """SNS Publish (its query protocol) to the topic, in the topic's own region."""
        body = urllib.parse.urlencode([("Action", "Publish"), ("Version", "2010-03-31"), ("TopicArn", topic_arn),
                                       ("Subject", subject), ("Message", message)]).encode()
        return self.post("sns", topic_arn.split(":")[3], body, {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}, timeout)


def headline(event, facts):
    """What happened, in one line."""
    job, ran = facts.get("job"), duration(facts["seconds"]) if "seconds" in facts else "?"
    if event == "job-finished":
        return "job %s finished (exit 0) after %s" % (job, ran)
    if event == "job-failed":
        return "job %s failed (exit %s) after %s" % (job, facts.get("exit_code"), ran)
    if event == "job-stalled":
        return "job %s stalled: no output, no CPU, GPU idle for %s min; it no longer keeps the machine up" % (job, facts.get("minutes"))
    if event == "stopping":
        words = STOP_WORDS.get(facts.get("reason"), facts.get("reason"))
        return "the machine is stopping: %s%s" % (words, " (%s)" % facts["detail"] if facts.get("detail") else "")
    if event == "started":
        return "the machine has started"
    return "a test message (npm run notify-test): notifications reach you"


def compose(label, event, facts, instance_id, now):
    """(subject, text) of an event: the notebook's name, the machine, the time, and what happened."""
    subject = "%s: %s" % (label, headline(event, facts))
    lines = [subject, "Notebook: %s" % label, "Machine: %s" % instance_id, "Time: %s" % iso(now)]
    if facts.get("log"):
        lines += ["Last log lines:", facts["log"]]
    return (subject if len(subject) <= SUBJECT_LIMIT else subject[:SUBJECT_LIMIT - 1] + "…"), "\n".join(lines)


def problem(error):
    """An error in a few words: the HTTP status and its reason, or the network's or the program's message."""
    code = getattr(error, "code", None)
    return ("HTTP %s %s" % (code, getattr(error, "reason", "")) if isinstance(code, int) else str(getattr(error, "reason", None) or error))[:200]


def attempt(send, deadline):
    """(delivered, attempts, detail): send(timeout) tried until it works, ATTEMPTS times, or the deadline."""
    pause, detail = FIRST_PAUSE, "no time left"
    for tries in range(1, ATTEMPTS + 1):
        left = deadline - time.monotonic()
        if left <= 0.5:
            return False, tries - 1, detail
        try:
            send(min(10, left))
            return True, tries, "delivered"
        except (ERRORS + (KeyError, IndexError, TypeError)) as error:
            detail = problem(error)
        if tries < ATTEMPTS:
            time.sleep(max(0, min(pause, deadline - time.monotonic() - 0.5)))
            pause *= 2
    return False, ATTEMPTS, detail


def channels(aws, notify, subject, text, body):
    """name -> send(timeout) for each channel the machine file names."""
    found = {}
    if notify.get("topicArn"):
        found["email"] = lambda timeout: aws.publish(notify["topicArn"], subject, text, timeout)
    if notify.get("webhookParameter"):
        url = []

        def post(timeout):
            if not url:
                url.append(aws.ssm("GetParameter", {"Name": notify["webhookParameter"], "WithDecryption": True}, timeout)["Parameter"]["Value"])
            try:
                fetch(url[0], {"content-type": "application/json"}, method="POST", data=json.dumps(body).encode(), timeout=timeout)
            except ERRORS as error:
                # The URL is a secret: no message of ours may carry it.
                raise ValueError(problem(error).replace(url[0], "<webhook URL>")) from None
        found["webhook"] = post
    return found


def deliver(machine, event, facts, seconds=30, aws=None, always=False):
    """Sends the event to every channel at once, all within `seconds`; returns {channel: {delivered, attempts, detail}}
    and logs each outcome. An event the owner did not ask for (notify.events) is not sent, unless `always`."""
    unattended = machine.get("unattended") or {}
    notify = unattended.get("notify")
    if not notify or not (always or event in notify.get("events", [])):
        return {}
    aws = aws or Aws()
    now, deadline = time.time(), time.monotonic() + seconds
    try:
        instance_id = aws.instance_id()
    except ERRORS as error:
        instance_id = "unknown instance (%s)" % (getattr(error, "reason", None) or error)
    label = unattended.get("label") or "gpu-notebook"
    subject, text = compose(label, event, facts, instance_id, now)
    body = {"text": text, "content": text[:DISCORD_LIMIT], "event": event, "notebook": label, "instanceId": instance_id, "time": iso(now)}
    results, threads = {}, []
    for name, send in channels(aws, notify, subject, text, body).items():
        def run(name=name, send=send):
            delivered, tries, detail = attempt(send, deadline)
            results[name] = {"delivered": delivered, "attempts": tries, "detail": detail}
        threads.append(threading.Thread(target=run, daemon=True))
        threads[-1].start()
    for thread in threads:
        thread.join(max(0, deadline - time.monotonic()) + 1)
    log(machine, event, now, results)
    return results


def log(machine, event, now, results):
    """One JSON line a channel in the delivery log; a log that cannot be written loses the line, nothing more."""
    path = machine.get("paths", {}).get("notifyLog")
    if not path:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Root (the idle watcher, the stop sequence) and the notebook user (its jobs, npm run
        # notify-test over SSH) write the same log: one root made would shut the user out, so the
        # file belongs to its folder's owner, the user (the tmpfiles.d entry). Never through a link.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        with open(descriptor, "a", encoding="utf-8") as handle:
            folder = os.stat(os.path.dirname(path))
            if os.geteuid() == 0 and os.fstat(descriptor).st_uid != folder.st_uid:
                os.fchown(descriptor, folder.st_uid, folder.st_gid)
            for channel, result in sorted(results.items()):
                handle.write(json.dumps(dict(result, time=now, event=event, channel=channel)) + "\n")
    except OSError as error:
        print("gpu-notebook-notify: cannot write the delivery log %s: %s" % (path, error), file=sys.stderr)


def last_outcomes(path, lines=200):
    """(the last failed delivery, the last delivered one) in the delivery log, each None when there is none."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            entries = [json.loads(line) for line in handle.read().decode("utf-8", "replace").splitlines()[-lines:] if line.startswith("{")]
    except (OSError, ValueError, TypeError):
        return None, None
    failed = [entry for entry in entries if not entry.get("delivered")]
    delivered = [entry for entry in entries if entry.get("delivered")]
    return (failed or [None])[-1], (delivered or [None])[-1]


def summary(results):
    return "; ".join("%s: %s after %d attempt%s (%s)" % (name, "delivered" if result["delivered"] else "NOT delivered", result["attempts"],
                                                         "" if result["attempts"] == 1 else "s", result["detail"])
                     for name, result in sorted(results.items())) or "no channel"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="deliver one event (always exits 0: a notification never breaks what it reports)")
    test = commands.add_parser("test", help="send a test message to every channel; exit 1 unless one delivered it")
    for sub in (send, test):
        sub.add_argument("--machine", required=True, help="the machine file (components/contract.ts renders it)")
        sub.add_argument("--seconds", type=float, default=30, help="the time all attempts together may take")
    send.add_argument("--event", required=True)
    send.add_argument("--facts", default="{}", help="the event's facts as JSON: job, exit_code, seconds, log, reason, detail, minutes")
    args = parser.parse_args(argv)
    try:
        machine = load_machine(args.machine)
    except (OSError, ValueError) as error:
        print("gpu-notebook-notify: cannot read the machine file %s (%s)" % (args.machine, error), file=sys.stderr)
        return 0 if args.command == "send" else 1
    if args.command == "send":
        results = deliver(machine, args.event, json.loads(args.facts), args.seconds)
        print("gpu-notebook-notify: %s: %s" % (args.event, summary(results)))
        return 0
    if not (machine.get("unattended") or {}).get("notify"):
        print("No notification channel is set: set notifyEmail or notifyWebhook, then npm run up.")
        return 1
    results = deliver(machine, "test", {}, args.seconds, always=True)
    for name, result in sorted(results.items()):
        print("%-8s %s after %d attempt(s): %s" % (name + ":", "delivered" if result["delivered"] else "NOT delivered",
                                                   result["attempts"], result["detail"]))
    return 0 if any(result["delivered"] for result in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
