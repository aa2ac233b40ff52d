// What a notebook needs on the AWS side to run unattended: where the machine records its last
// stop (always: a free SSM parameter that outlives the stop, so `npm run status` can say when and
// why without starting the machine), and, only when notifications are asked for, the SNS topic
// with its email subscription and the webhook as a SecureString. What the machine is told about
// them is machine.json's `unattended` object (boot.ts), rendered from unattendedFile below.
import * as pulumi from "@pulumi/pulumi";
import * as sns from "@pulumi/aws/sns";
import * as ssm from "@pulumi/aws/ssm";

import { notebookParameterName, NotifyEvent, UNATTENDED } from "./contract";
import { CONFIG_NAMESPACE, NotebookSettings, ValidSettings } from "./config";

/** One statement of an IAM policy, as AWS reads it. */
export interface PolicyStatement {
    Effect: "Allow";
    Action: string | string[];
    Resource: string;
    Condition?: Record<string, Record<string, unknown>>;
}

/** A policy document of these statements. */
export function policyDocument(statements: PolicyStatement[]): string {
    return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

/** machine.json's `unattended` object: everything the machine's stop sequence, watchers and notifier read. */
export interface UnattendedFile {
    /** How messages name the notebook: "gpu-notebook dev", or "gpu-notebook dev/alice" in a class. */
    label: string;
    jobStallMinutes: number;
    jobStopGraceSeconds: number;
    hookTimeoutSeconds: number;
    spotPollSeconds: number;
    spotDeadlineSeconds: number;
    /** The SSM parameter the stop sequence writes its record to. */
    lastStopParameter: string;
    /** Null without notifyEmail and notifyWebhook: nothing is sent. */
    notify: { events: NotifyEvent[]; topicArn: string | null; webhookParameter: string | null } | null;
}

/** The AWS side of a notebook's notifications and last-stop record. */
export interface NotebookUnattended {
    /** machine.json's `unattended` object, once the topic's ARN is known. */
    file: pulumi.Output<UnattendedFile>;
    /** What the instance role may do for it: write the last stop, publish to the topic, read the webhook, each on that one ARN. */
    instanceStatements: pulumi.Output<PolicyStatement[]>;
    /** The last-stop record's parameter. */
    lastStop: ssm.Parameter;
    /** With notifyEmail: the topic the machine, the backstop and (with a budget) AWS Budgets publish to. */
    topic?: sns.Topic;
    /** With notifyWebhook: the SecureString holding the URL. */
    webhook?: ssm.Parameter;
}

/** The settings machine.json's `unattended` object is made from. */
export type UnattendedSettings = Pick<NotebookSettings, "jobStallMinutes" | "jobStopGraceSeconds" | "notifyOn" | "notifyEmail" | "notifyWebhook">;

/**
 * machine.json's `unattended` object, from the settings and where things are: the contract's
 * fixed limits, and `notify` null unless notifyEmail or notifyWebhook is set.
 */
export function renderUnattended(
    settings: UnattendedSettings, label: string, where: { lastStopParameter: string; topicArn?: string; webhookParameter?: string },
): UnattendedFile {
    const notifying = settings.notifyEmail !== undefined || settings.notifyWebhook !== undefined;
    return {
        label,
        jobStallMinutes: settings.jobStallMinutes,
        jobStopGraceSeconds: settings.jobStopGraceSeconds,
        ...UNATTENDED,
        lastStopParameter: where.lastStopParameter,
        notify: notifying
            ? { events: [...settings.notifyOn], topicArn: where.topicArn ?? null, webhookParameter: where.webhookParameter ?? null }
            : null,
    };
}

/** How messages name a notebook: the product and stack, and in a class the notebook's name. */
export function unattendedLabel(stack: string, notebookName: string | undefined): string {
    return `${CONFIG_NAMESPACE} ${stack}${notebookName === undefined ? "" : `/${notebookName}`}`;
}

/** What a stack's deploy says about a notebook's email: AWS's confirmation comes first, and nothing arrives before it is confirmed. */
export function confirmationLine(name: string, email: string): string {
    return `notifications: ${name} mails ${email} through an SNS topic; AWS sends a confirmation mail first, ` +
        "and nothing arrives until its link is clicked (then `npm run notify-test` sends a test message)";
}

/**
 * Creates the last-stop parameter, and with notifyEmail or notifyWebhook the topic, its email
 * subscription and the webhook's SecureString. Nothing that costs money or sends mail exists
 * without those settings.
 */
export function createUnattended(
    name: string, settings: ValidSettings, label: string, tags: Record<string, string>, parent: pulumi.Resource,
): NotebookUnattended {
    const stack = pulumi.getStack();
    // The machine and the backstop write it; its value is theirs, so a later up never resets it
    // (ignoreChanges) and destroy removes it with the stack.
    const lastStop = new ssm.Parameter(`${name}-last-stop`, {
        name: notebookParameterName(stack, name, "last-stop"),
        description: `${label}: when and why the machine last stopped, and whether that was notified (npm run status reads it)`,
        type: "String",
        value: "{}",
        tags,
    }, { parent, ignoreChanges: ["value"] });

    const topic = settings.notifyEmail === undefined ? undefined : new sns.Topic(`${name}-notify`, {
        displayName: label,
        tags,
    }, { parent });
    if (topic && settings.notifyEmail !== undefined) {
        // AWS mails a confirmation first; the subscription stays pending until it is clicked.
        new sns.TopicSubscription(`${name}-notify-email`, { topic: topic.arn, protocol: "email", endpoint: settings.notifyEmail }, { parent });
        pulumi.log.info(confirmationLine(name, settings.notifyEmail), parent);
    }
    const webhook = settings.notifyWebhook === undefined ? undefined : new ssm.Parameter(`${name}-webhook`, {
        name: notebookParameterName(stack, name, "webhook"),
        description: `${label}: the notification webhook; only this notebook's machine may read it`,
        // Encrypted with the account's aws/ssm key, whose policy lets the account's principals
        // decrypt through SSM: ssm:GetParameter on this one ARN is all the machine needs.
        type: "SecureString",
        value: pulumi.secret(settings.notifyWebhook),
        tags,
    }, { parent });

    const file = pulumi.all([topic?.arn, webhook?.name, lastStop.name]).apply(([topicArn, webhookParameter, lastStopParameter]) =>
        renderUnattended(settings, label, { lastStopParameter, topicArn, webhookParameter }));
    const instanceStatements = pulumi.all([lastStop.arn, topic?.arn, webhook?.arn]).apply(([lastStopArn, topicArn, webhookArn]) => [
        { Effect: "Allow" as const, Action: "ssm:PutParameter", Resource: lastStopArn },
        ...(topicArn ? [{ Effect: "Allow" as const, Action: "sns:Publish", Resource: topicArn }] : []),
        ...(webhookArn ? [{ Effect: "Allow" as const, Action: "ssm:GetParameter", Resource: webhookArn }] : []),
    ]);
    return { file, instanceStatements, lastStop, topic, webhook };
}

/**
 * Lets AWS Budgets publish the account's budget alerts to the topic, from this account only
 * (the AWS Budgets user guide, "Creating an Amazon SNS topic for budget notifications"). The
 * topic's ARN names the account, so no lookup is needed.
 */
export function allowBudgetAlerts(name: string, topic: sns.Topic, parent: pulumi.Resource): sns.TopicPolicy {
    return new sns.TopicPolicy(`${name}-notify-budget`, {
        arn: topic.arn,
        policy: topic.arn.apply((arn) => {
            const account = arn.split(":")[4];
            return JSON.stringify({
                Version: "2012-10-17",
                Statement: [{
                    Sid: "AWSBudgetsSNSPublishingPermissions",
                    Effect: "Allow",
                    Principal: { Service: "budgets.amazonaws.com" },
                    Action: "SNS:Publish",
                    Resource: arn,
                    Condition: { StringEquals: { "aws:SourceAccount": account }, ArnLike: { "aws:SourceArn": `arn:aws:budgets::${account}:*` } },
                }],
            });
        }),
    }, { parent });
}
