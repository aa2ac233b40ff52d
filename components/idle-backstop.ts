// The AWS side of idle stop: the instance role through which the idle watcher publishes its
// heartbeat, and the CloudWatch backstop that stops the machine when, while it runs, the heartbeat
// has said idle, or has been missing (a dead watcher), for twice the limit.
import { readFileSync } from "fs";
import * as path from "path";

import * as pulumi from "@pulumi/pulumi";
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as iam from "@pulumi/aws/iam";
import * as lambda from "@pulumi/aws/lambda";

import { HEARTBEAT, STOP_REASON_TAG, StopReason } from "./contract";
import { NotebookUnattended, PolicyStatement, policyDocument } from "./notify";

/**
 * The backstop's timing. Twice the idle limit, at least two hours, so it never races the watcher;
 * the whole evaluation window (the limit plus the late periods) at most one day, CloudWatch's
 * longest.
 */
export const IDLE_BACKSTOP = {
    periodSeconds: 300,
    minMinutes: 120,
    /**
     * Newest periods whose EC2 CPU datapoint may not have arrived yet (basic monitoring publishes
     * every 5 minutes, minutes late). The expression reads those as "not running" (never
     * breaching), so the alarm needs this many spare periods in its window: CloudWatch's advice for
     * FILL in alarms is an M-out-of-N alarm.
     */
    latePeriods: 2,
    maxWindowSeconds: 24 * 3600,
} as const;

/** Minutes of heartbeat-idle running time after which the backstop stops the instance. */
export function backstopMinutes(idleStopMinutes: number): number {
    const periodMinutes = IDLE_BACKSTOP.periodSeconds / 60;
    const longest = IDLE_BACKSTOP.maxWindowSeconds / 60 - IDLE_BACKSTOP.latePeriods * periodMinutes;
    const twice = Math.ceil((2 * idleStopMinutes) / periodMinutes) * periodMinutes;
    return Math.min(longest, Math.max(IDLE_BACKSTOP.minMinutes, twice));
}

/**
 * One value per period while the instance runs: the heartbeat's maximum, 0 when it is missing; and
 * 1 (never breaching) while the instance reports no CPU, i.e. while it is stopped. Sources: the
 * CloudWatch user guide, "Using metric math": FILL(TS, S) fills missing values with S;
 * IF(TS, TS, S) takes the second argument where the condition is non-zero and the scalar where it
 * is zero; comparisons and IF treat a time series point by point.
 * - running: CPUUtilization SampleCount of the instance, which exists only while it runs; filled
 *   with 0 where missing, so a stopped machine yields 1s and returns the alarm to OK within a
 *   period or two. An alarm left in ALARM while stopped therefore never stays there, and a start
 *   with a dead watcher is a fresh OK-to-ALARM transition, which is what fires actions.
 * - heartbeat: the watcher's Active (1 active, 0 idle) for the instance; filled with 0, so a dead
 *   watcher reads as idle.
 */
export const BACKSTOP_EXPRESSION = "IF(FILL(running, 0), FILL(heartbeat, 0), 1)";

/** The policy document allowing one service to assume a role. */
function trustPolicy(service: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
    });
}

/**
 * The instance's role: it may publish metrics in the heartbeat's namespace (PutMetricData has no
 * resources to name; the namespace condition is its only limit), read the boot bundles (the
 * objects under `bundleObjectsArn`, not the bucket, not a listing), and do what running
 * unattended needs, each on one ARN (`unattendedStatements`: write its last-stop record, and with
 * notifications publish to its topic and read its webhook), and nothing else. Always created,
 * with or without idle stop: a heartbeat nobody watches is harmless. The profile waits for the
 * policies, so the machine's first fetch usually finds them in force.
 */
export function createInstanceProfile(
    name: string, tags: Record<string, string>, bundleObjectsArn: pulumi.Input<string>,
    unattendedStatements: pulumi.Input<PolicyStatement[]>, parent: pulumi.Resource,
): iam.InstanceProfile {
    const role = new iam.Role(`${name}-instance-role`, {
        description: "gpu-notebook instance: publishes the idle watcher's heartbeat, reads its boot bundle, records its stops " +
            "and sends its notifications, nothing else",
        assumeRolePolicy: trustPolicy("ec2.amazonaws.com"),
        tags,
    }, { parent });
    const heartbeat = new iam.RolePolicy(`${name}-heartbeat`, {
        role: role.name,
        policy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{
                Effect: "Allow",
                Action: "cloudwatch:PutMetricData",
                Resource: "*",
                Condition: { StringEquals: { "cloudwatch:namespace": HEARTBEAT.namespace } },
            }],
        }),
    }, { parent });
    const bundle = new iam.RolePolicy(`${name}-boot-bundle`, {
        role: role.name,
        policy: pulumi.output(bundleObjectsArn).apply((resource) => JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: resource }],
        })),
    }, { parent });
    const unattended = new iam.RolePolicy(`${name}-unattended`, {
        role: role.name,
        policy: pulumi.output(unattendedStatements).apply(policyDocument),
    }, { parent });
    return new iam.InstanceProfile(`${name}-instance-profile`, { role: role.name, tags }, { parent, dependsOn: [heartbeat, bundle, unattended] });
}

/** The stop reason the backstop gives: its function tags and records it (told in its environment), and may tag no other value. */
const BACKSTOP_REASON: StopReason = "backstop";

/** Where the Lambda function's code lives (a real file, run by a test). */
const STOPPER_FILE = path.join(__dirname, "backstop", "stop_instance.py");

export interface IdleBackstopArgs {
    instanceId: pulumi.Input<string>;
    instanceArn: pulumi.Input<string>;
    /** The watcher's limit; the backstop waits backstopMinutes of it. Must be above 0. */
    idleStopMinutes: number;
    label: string;
    tags: Record<string, string>;
    /** The last-stop record the function writes, and the topic it tells when it stops the machine (when `stopping` is notified). */
    unattended: Pick<NotebookUnattended, "lastStop" | "topic"> & { notifyStopping: boolean; label: string };
}

/**
 * The alarm, and the function it invokes to stop the instance. An alarm on a math expression
 * cannot carry an EC2 stop action (CloudWatch user guide: "Alarms based on math expressions can't
 * perform Amazon EC2 actions"), so the action is a Lambda function allowed to stop this instance
 * only. Before it stops it, it tags it with the stop's reason (the machine's stop sequence reads
 * it), records the stop in the notebook's last-stop parameter and, with a topic that takes
 * `stopping`, publishes it: each on that one resource, the tag by its key and value only. It has no log
 * permissions: the alarm's history already says when and why it fired.
 */
export function createIdleBackstop(name: string, args: IdleBackstopArgs, parent: pulumi.Resource): cloudwatch.MetricAlarm {
    const minutes = backstopMinutes(args.idleStopMinutes);
    const periods = (minutes * 60) / IDLE_BACKSTOP.periodSeconds;
    const metric = (namespace: string, metricName: string, dimension: string, stat: string) => ({
        namespace,
        metricName,
        dimensions: { [dimension]: args.instanceId },
        stat,
        period: IDLE_BACKSTOP.periodSeconds,
    });

    const role = new iam.Role(`${name}-backstop-role`, {
        description: `gpu-notebook ${args.label}: the idle backstop's function, which may stop this instance`,
        assumeRolePolicy: trustPolicy("lambda.amazonaws.com"),
        tags: args.tags,
    }, { parent });
    const topic = args.unattended.notifyStopping ? args.unattended.topic : undefined;
    new iam.RolePolicy(`${name}-backstop-stop`, {
        role: role.name,
        policy: pulumi.all([args.instanceArn, args.unattended.lastStop.arn, topic?.arn]).apply(([instanceArn, lastStopArn, topicArn]) => policyDocument([
            { Effect: "Allow", Action: "ec2:StopInstances", Resource: instanceArn },
            {
                Effect: "Allow", Action: "ec2:CreateTags", Resource: instanceArn,
                Condition: {
                    "ForAllValues:StringEquals": { "aws:TagKeys": [STOP_REASON_TAG] },
                    StringEquals: { [`aws:RequestTag/${STOP_REASON_TAG}`]: BACKSTOP_REASON },
                },
            },
            { Effect: "Allow", Action: "ssm:PutParameter", Resource: lastStopArn },
            ...(topicArn ? [{ Effect: "Allow" as const, Action: "sns:Publish", Resource: topicArn }] : []),
        ])),
    }, { parent });
    const stopper = new lambda.Function(`${name}-backstop`, {
        description: `gpu-notebook ${args.label}: stops the instance when its idle backstop alarm fires`,
        runtime: "python3.12",
        handler: `${path.basename(STOPPER_FILE, ".py")}.handler`,
        code: new pulumi.asset.AssetArchive({ [path.basename(STOPPER_FILE)]: new pulumi.asset.StringAsset(readFileSync(STOPPER_FILE, "utf8")) }),
        role: role.arn,
        // What it needs to know, so the code keeps no copy of the contract's names.
        environment: {
            variables: {
                INSTANCE_ID: args.instanceId,
                NOTEBOOK_LABEL: args.unattended.label,
                BACKSTOP_MINUTES: String(minutes),
                STOP_REASON_TAG,
                STOP_REASON: BACKSTOP_REASON,
                LAST_STOP_PARAMETER: args.unattended.lastStop.name,
                ...(topic ? { TOPIC_ARN: topic.arn } : {}),
            },
        },
        timeout: 30,
        tags: args.tags,
    }, { parent });

    const alarm = new cloudwatch.MetricAlarm(`${name}-idle-backstop`, {
        alarmDescription: `gpu-notebook ${args.label}: stops the instance after ${minutes} minutes of running ` +
            `without activity in the idle watcher's heartbeat (idle, or missing: a dead watcher); the watcher itself ` +
            `stops it after ${args.idleStopMinutes}`,
        metricQueries: [
            { id: "running", metric: metric("AWS/EC2", "CPUUtilization", "InstanceId", "SampleCount"), returnData: false },
            { id: "heartbeat", metric: metric(HEARTBEAT.namespace, HEARTBEAT.metricName, HEARTBEAT.dimension, "Maximum"), returnData: false },
            { id: "active", expression: BACKSTOP_EXPRESSION, label: "active while running (1 when stopped)", returnData: true },
        ],
        comparisonOperator: "LessThanThreshold",
        threshold: 1,
        // The backstop's span of idle periods, in a window with room for the late ones.
        evaluationPeriods: periods + IDLE_BACKSTOP.latePeriods,
        datapointsToAlarm: periods,
        // Only when the expression yields nothing at all (no CPU data in the whole window).
        treatMissingData: "notBreaching",
        alarmActions: [stopper.arn],
        tags: args.tags,
    }, { parent });
    new lambda.Permission(`${name}-backstop-invoke`, {
        action: "lambda:InvokeFunction",
        function: stopper.name,
        principal: "lambda.alarms.cloudwatch.amazonaws.com",
        sourceArn: alarm.arn,
    }, { parent });
    return alarm;
}
