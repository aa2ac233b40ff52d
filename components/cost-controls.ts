// What keeps a forgotten notebook from running up a bill: the CloudWatch backstop that stops an
// idle instance whose watcher is not running, and the account's monthly budget with email alerts.
import * as pulumi from "@pulumi/pulumi";
import * as budgets from "@pulumi/aws/budgets";
import * as cloudwatch from "@pulumi/aws/cloudwatch";

/**
 * The CloudWatch backstop for the idle watcher: if the watcher dies, the instance still stops after
 * a longer stretch of near-zero CPU. Twice the idle limit, at least two hours, so it never races
 * the watcher; at most one day, CloudWatch's longest evaluation window. Exported for tests.
 */
export const IDLE_BACKSTOP = {
    periodSeconds: 300,
    /** Highest CPU (percent, 5-minute maximum) that still counts as idle; an idle Jupyter sits well below. */
    cpuThresholdPercent: 2,
    minMinutes: 120,
} as const;

/** Minutes of near-zero CPU after which the backstop alarm stops the instance. */
function backstopMinutes(idleStopMinutes: number): number {
    const periodMinutes = IDLE_BACKSTOP.periodSeconds / 60;
    return Math.max(IDLE_BACKSTOP.minMinutes, Math.ceil((2 * idleStopMinutes) / periodMinutes) * periodMinutes);
}

export interface IdleBackstopArgs {
    instanceId: pulumi.Input<string>;
    /** The idle watcher's limit; the backstop waits twice as long. */
    idleStopMinutes: number;
    /** The notebook's label, for the alarm's description. */
    label: string;
    /** The stack's region: the stop action is a regional ARN. */
    region: string;
    tags: Record<string, string>;
}

/** The alarm that stops the instance when its CPU stays near zero far beyond the idle limit. */
export function createIdleBackstop(name: string, args: IdleBackstopArgs, parent: pulumi.Resource): cloudwatch.MetricAlarm {
    const minutes = backstopMinutes(args.idleStopMinutes);
    // Every period of the window must be idle.
    const periods = (minutes * 60) / IDLE_BACKSTOP.periodSeconds;
    return new cloudwatch.MetricAlarm(`${name}-idle-backstop`, {
        alarmDescription: `gpu-notebook ${args.label}: stops the instance after ${minutes} minutes below ` +
            `${IDLE_BACKSTOP.cpuThresholdPercent}% CPU, in case its idle watcher (${args.idleStopMinutes} min) is not running`,
        namespace: "AWS/EC2",
        metricName: "CPUUtilization",
        dimensions: { InstanceId: args.instanceId },
        statistic: "Maximum",
        period: IDLE_BACKSTOP.periodSeconds,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        comparisonOperator: "LessThanThreshold",
        threshold: IDLE_BACKSTOP.cpuThresholdPercent,
        // A stopped instance reports nothing; that is not a reason to act.
        treatMissingData: "notBreaching",
        alarmActions: [`arn:aws:automate:${args.region}:ec2:stop`],
        tags: args.tags,
    }, { parent });
}

/** Budget notifications: actual spend at 80% and 100% of the limit, and a forecast over 100%. */
const BUDGET_ALERTS = [
    { notificationType: "ACTUAL", threshold: 80 },
    { notificationType: "ACTUAL", threshold: 100 },
    { notificationType: "FORECASTED", threshold: 100 },
] as const;

export interface BudgetArgs {
    /** USD a month, for the whole account. */
    monthlyBudgetUsd: number;
    /** Where the alerts go. */
    alertEmail: string;
    tags: Record<string, string>;
}

/**
 * The account's monthly cost budget with email alerts. It covers the whole account, so a stack
 * makes one, however many notebooks it holds.
 */
export function createBudget(name: string, args: BudgetArgs, parent?: pulumi.Resource): budgets.Budget {
    return new budgets.Budget(`${name}-budget`, {
        budgetType: "COST",
        limitAmount: args.monthlyBudgetUsd.toFixed(2),
        limitUnit: "USD",
        timeUnit: "MONTHLY",
        notifications: BUDGET_ALERTS.map((alert) => ({
            ...alert,
            comparisonOperator: "GREATER_THAN",
            thresholdType: "PERCENTAGE",
            subscriberEmailAddresses: [args.alertEmail],
        })),
        tags: args.tags,
    }, { parent });
}
