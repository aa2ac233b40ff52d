"""The idle backstop's action, run by AWS Lambda when the backstop alarm goes to ALARM: stops this
notebook's instance (INSTANCE_ID), keeping its disks and address, as the idle watcher would have.

An alarm on a metric-math expression cannot stop an instance itself (EC2 actions need an alarm on
one per-instance metric), so the alarm invokes this function instead. Before the stop it tags the
instance with the reason (STOP_REASON_TAG = STOP_REASON), so the machine's own stop sequence says
why; records the stop in the notebook's last-stop parameter (LAST_STOP_PARAMETER), which
`npm run status` reads on the stopped machine; and, with TOPIC_ARN, publishes the `stopping`
notification, since a machine whose watcher died may not send its own. Each of those is tried
once and never holds back the stop: a notification that cannot be sent is recorded as such.
Everything it names comes from its environment, which the program sets from the contract.
"""
import datetime
import json
import os

import boto3  # part of the Lambda Python runtime


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _message(env, instance, time):
    """The `stopping` notification: subject (at most 100 characters, SNS's limit) and text."""
    label = env["NOTEBOOK_LABEL"]
    subject = ("%s: stopping (backstop)" % label)[:100]
    text = ("%s: the idle backstop is stopping the machine %s at %s: for %s minutes while it ran, its idle "
            "watcher reported no activity, or nothing at all. Disk and address are kept; npm run start starts it again."
            % (label, instance, time, env["BACKSTOP_MINUTES"]))
    return subject, text


def _try(what, action):
    """Runs action(); returns (True, None), or (False, a line saying what failed) without raising."""
    try:
        action()
        return True, None
    except Exception as error:  # noqa: BLE001 - nothing here may hold back the stop
        line = "%s failed: %s: %s" % (what, type(error).__name__, error)
        print(line)
        return False, line


def handler(event, context, clients=None, env=None):
    """`clients` (a function of a service name) and `env` stand in for boto3.client and os.environ in tests."""
    env = os.environ if env is None else env
    client = clients or boto3.client
    state = event.get("alarmData", {}).get("state", {}).get("value")
    instance = env["INSTANCE_ID"]
    if state != "ALARM":
        print("alarm state %s: %s left alone" % (state, instance))
        return {"stopped": False}
    reason = env["STOP_REASON"]
    time = _now()
    _try("tagging the stop's reason", lambda: client("ec2").create_tags(
        Resources=[instance], Tags=[{"Key": env["STOP_REASON_TAG"], "Value": reason}]))
    notification = None
    if env.get("TOPIC_ARN"):
        subject, text = _message(env, instance, time)
        delivered, failure = _try("publishing the stop", lambda: client("sns").publish(
            TopicArn=env["TOPIC_ARN"], Subject=subject, Message=text))
        notification = {"delivered": delivered, "detail": "published to the notebook's topic" if delivered else failure}
    record = {
        "time": time,
        "reason": reason,
        "detail": "the idle backstop: no activity reported for %s minutes while running" % env["BACKSTOP_MINUTES"],
        "notification": notification,
    }
    _try("recording the stop", lambda: client("ssm").put_parameter(
        Name=env["LAST_STOP_PARAMETER"], Value=json.dumps(record), Type="String", Overwrite=True))
    client("ec2").stop_instances(InstanceIds=[instance])
    print("idle backstop: stopping %s (%s)" % (instance, event.get("alarmData", {}).get("state", {}).get("reason")))
    return {"stopped": True}
