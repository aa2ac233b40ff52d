// The account's monthly budget with email alerts: what tells a user about a bill before it
// surprises them. (The idle backstop, which stops a forgotten machine, is idle-backstop.ts.)
import * as pulumi from "@pulumi/pulumi";
import * as budgets from "@pulumi/aws/budgets";

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
    /**
     * A notebook's notification topic the alerts also go to (AWS Budgets takes one per
     * notification), with the topic policy that lets Budgets publish to it. Undefined: email only.
     */
    topic?: { arn: pulumi.Input<string>; policy: pulumi.Resource };
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
            ...(args.topic ? { subscriberSnsTopicArns: [args.topic.arn] } : {}),
        })),
        tags: args.tags,
    }, { parent, dependsOn: args.topic ? [args.topic.policy] : undefined });
}
