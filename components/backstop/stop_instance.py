"""The idle backstop's action, run by AWS Lambda when the backstop alarm goes to ALARM: stops this
notebook's instance (INSTANCE_ID), keeping its disks and address, as the idle watcher would have.

An alarm on a metric-math expression cannot stop an instance itself (EC2 actions need an alarm on
one per-instance metric), so the alarm invokes this function instead.
"""
import os

import boto3  # part of the Lambda Python runtime


def handler(event, context):
    state = event.get("alarmData", {}).get("state", {}).get("value")
    instance = os.environ["INSTANCE_ID"]
    if state != "ALARM":
        print("alarm state %s: %s left alone" % (state, instance))
        return {"stopped": False}
    boto3.client("ec2").stop_instances(InstanceIds=[instance])
    print("idle backstop: stopping %s (%s)" % (instance, event.get("alarmData", {}).get("state", {}).get("reason")))
    return {"stopped": True}
