// Cost controls under mocks: the idle stop's tag and CloudWatch backstop, stop/start, spot, the
// budget, and the hourly price output with what happens when the price cannot be looked up.
import * as assert from "assert";
import { parse } from "yaml";

import { INVOKE_TOKENS } from "../components/aws-data";
import { bootFile, IDLE_STOP_TAG, INSTANCE_PATHS } from "../components/boot";
import { IDLE_BACKSTOP } from "../components/cost-controls";
import { PRICE_LIST_REGION } from "../components/pricing";
import { MockCloud, SAMPLE_PRICES } from "../components/offline/mock-cloud";
import { unwrap } from "../components/offline/run-program";
import { refusal, registered, runProgram, runShared, VALID_CONFIG } from "./support/program";
import { userDataOf, writtenFiles } from "./support/user-data";

const INSTANCE = "aws:ec2/instance:Instance";
const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";
const INSTANCE_STATE = "aws:ec2transitgateway/instanceState:InstanceState";
const BUDGET = "aws:budgets/budget:Budget";
const BUDGET_CONFIG = { ...VALID_CONFIG, monthlyBudgetUsd: "40", alertEmail: "student@example.org" };

function cloudIn(region: string): MockCloud {
    const cloud = new MockCloud();
    cloud.region = region;
    return cloud;
}

describe("cost controls", () => {
    describe("idle stop", () => {
        it("hands the limit to the instance as the tag the watcher reads, and enables tags in metadata", async () => {
            const { cloud } = await runShared({ ...VALID_CONFIG, idleStopMinutes: "45" });
            const instance = cloud.one(INSTANCE).inputs;
            assert.strictEqual(instance.tags[IDLE_STOP_TAG], "45");
            assert.strictEqual(instance.metadataOptions.instanceMetadataTags, "enabled");
            assert.strictEqual(instance.instanceInitiatedShutdownBehavior, "stop");
        });

        it("changing idleStopMinutes changes only the tag and the alarm, never the user data", async () => {
            const first = (await runShared(VALID_CONFIG)).cloud.one(INSTANCE).inputs;
            const second = (await runShared({ ...VALID_CONFIG, idleStopMinutes: "0" })).cloud.one(INSTANCE).inputs;
            assert.ok(first.userDataBase64, "the instance has user data");
            assert.strictEqual(second.userDataBase64, first.userDataBase64, "the instance is not replaced");
            const withoutTag = (inputs: Record<string, any>) => ({ ...inputs, tags: { ...inputs.tags, [IDLE_STOP_TAG]: "" } }); // any: provider inputs
            assert.deepStrictEqual(withoutTag(second), withoutTag(first));
            assert.strictEqual(second.tags[IDLE_STOP_TAG], "0");
        });

        it("installs the watcher, its every-minute timer and its unit, and enables the timer", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            const userData = userDataOf(cloud.one(INSTANCE));
            const files = writtenFiles(userData);
            const watcher = files.find((file) => file.path === INSTANCE_PATHS.idleWatcher);
            assert.strictEqual(watcher?.content, bootFile("idle-watcher.py"));
            assert.strictEqual(watcher?.permissions, "0755");
            const timer = files.find((file) => file.path === INSTANCE_PATHS.idleTimer)?.content ?? "";
            assert.match(timer, /^OnUnitActiveSec=1min$/m);
            const unit = files.find((file) => file.path === INSTANCE_PATHS.idleService)?.content ?? "";
            assert.match(unit, new RegExp(`^ExecStart=/usr/bin/python3 ${INSTANCE_PATHS.idleWatcher} check --jupyter-url https://127\\.0\\.0\\.1:8888/ `, "m"));
            assert.deepStrictEqual(parse(userData).runcmd.at(-1), ["systemctl", "enable", "--now", "gpu-notebook-idle.timer"]);
            assert.ok(!files.some((file) => file.path === INSTANCE_PATHS.apiTokenFile),
                "the API token is made on the instance, not written from user data");
        });
    });

    describe("the CloudWatch backstop", () => {
        it("stops this instance after twice the idle limit (at least two hours) of near-zero CPU", async () => {
            const { cloud } = await runProgram(VALID_CONFIG, cloudIn("eu-west-1"));
            const alarm = cloud.one(ALARM).inputs;
            assert.deepStrictEqual(alarm.alarmActions, ["arn:aws:automate:eu-west-1:ec2:stop"]);
            assert.deepStrictEqual(Object.keys(alarm.dimensions), ["InstanceId"]);
            assert.strictEqual(alarm.namespace, "AWS/EC2");
            assert.strictEqual(alarm.metricName, "CPUUtilization");
            assert.strictEqual(alarm.comparisonOperator, "LessThanThreshold");
            assert.strictEqual(alarm.threshold, IDLE_BACKSTOP.cpuThresholdPercent);
            assert.strictEqual(alarm.period, 300);
            assert.strictEqual(alarm.evaluationPeriods * alarm.period, 120 * 60, "two hours for the default 60 minutes");
            assert.strictEqual(alarm.datapointsToAlarm, alarm.evaluationPeriods, "every period must be idle");
            assert.strictEqual(alarm.treatMissingData, "notBreaching", "a stopped instance is left alone");
        });

        it("watches the instance the program created", async () => {
            const { cloud, outputs } = await runShared(VALID_CONFIG);
            assert.strictEqual(cloud.one(ALARM).inputs.dimensions.InstanceId, await unwrap(outputs.instanceId));
        });

        it("scales with a longer limit, up to CloudWatch's one-day window", async () => {
            const fiveHours = (await runShared({ ...VALID_CONFIG, idleStopMinutes: "300" })).cloud.one(ALARM).inputs;
            assert.strictEqual(fiveHours.evaluationPeriods * fiveHours.period, 600 * 60);
            const longest = (await runShared({ ...VALID_CONFIG, idleStopMinutes: "720" })).cloud.one(ALARM).inputs;
            assert.strictEqual(longest.evaluationPeriods * longest.period, 24 * 3600);
        });

        it("is absent when idle stop is disabled", async () => {
            const { cloud } = await runShared({ ...VALID_CONFIG, idleStopMinutes: "0" });
            assert.strictEqual(cloud.ofType(ALARM).length, 0);
        });
    });

    describe("running", () => {
        it("keeps the instance running by default", async () => {
            const { cloud, outputs } = await runShared(VALID_CONFIG);
            const state = cloud.one(INSTANCE_STATE).inputs;
            assert.strictEqual(state.state, "running");
            assert.strictEqual(state.instanceId, await unwrap(outputs.instanceId));
        });

        it("running=false stops the same instance, keeping it, its disk and its address", async () => {
            const running = await runShared(VALID_CONFIG);
            const stopped = await runShared({ ...VALID_CONFIG, running: "false" });
            assert.strictEqual(stopped.cloud.one(INSTANCE_STATE).inputs.state, "stopped");
            assert.deepStrictEqual(stopped.cloud.one(INSTANCE).inputs, running.cloud.one(INSTANCE).inputs, "the instance itself is untouched");
            assert.deepStrictEqual(stopped.cloud.one("aws:ec2/eip:Eip").inputs, running.cloud.one("aws:ec2/eip:Eip").inputs);
            assert.strictEqual(stopped.cloud.one(INSTANCE).inputs.rootBlockDevice.volumeSize,
                running.cloud.one(INSTANCE).inputs.rootBlockDevice.volumeSize);
        });
    });

    describe("spot", () => {
        it("is off by default: on-demand, no market options", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            assert.strictEqual(cloud.one(INSTANCE).inputs.instanceMarketOptions, undefined);
        });

        it("asks for a persistent spot request that stops on interruption", async () => {
            const { cloud } = await runShared({ ...VALID_CONFIG, spot: "true" });
            assert.deepStrictEqual(cloud.one(INSTANCE).inputs.instanceMarketOptions, {
                marketType: "spot",
                spotOptions: { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" },
            });
            assert.strictEqual(cloud.one(INSTANCE).inputs.instanceInitiatedShutdownBehavior, "stop");
        });
    });

    describe("the budget", () => {
        it("is not created without monthlyBudgetUsd", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            assert.strictEqual(cloud.ofType(BUDGET).length, 0);
        });

        it("is a monthly USD cost budget with actual and forecast alerts to alertEmail", async () => {
            const { cloud } = await runShared({ ...BUDGET_CONFIG, monthlyBudgetUsd: "49.5" });
            const budget = cloud.one(BUDGET).inputs;
            assert.strictEqual(budget.budgetType, "COST");
            assert.strictEqual(budget.limitAmount, "49.50");
            assert.strictEqual(budget.limitUnit, "USD");
            assert.strictEqual(budget.timeUnit, "MONTHLY");
            const alerts = budget.notifications.map((n: Record<string, unknown>) =>
                `${n.notificationType} ${n.comparisonOperator} ${n.threshold} ${n.thresholdType} ${JSON.stringify(n.subscriberEmailAddresses)}`);
            assert.deepStrictEqual(alerts, [
                'ACTUAL GREATER_THAN 80 PERCENTAGE ["student@example.org"]',
                'ACTUAL GREATER_THAN 100 PERCENTAGE ["student@example.org"]',
                'FORECASTED GREATER_THAN 100 PERCENTAGE ["student@example.org"]',
            ]);
        });

        it("refuses a budget without an email before creating anything", async () => {
            const cloud = new MockCloud();
            const error = await refusal({ ...VALID_CONFIG, monthlyBudgetUsd: "40" }, cloud);
            assert.match(error.message, /gpu-notebook:monthlyBudgetUsd and gpu-notebook:alertEmail go together/);
            assert.deepStrictEqual(registered(cloud), []);
        });

        it("refuses a malformed email before creating anything", async () => {
            const cloud = new MockCloud();
            const error = await refusal({ ...BUDGET_CONFIG, alertEmail: "student at example.org" }, cloud);
            assert.match(error.message, /gpu-notebook:alertEmail = "student at example.org" is not accepted/);
            assert.deepStrictEqual(registered(cloud), []);
        });
    });

    describe("estimatedHourlyCostUsd", () => {
        it("is the on-demand price from the Price List API, asked through a us-east-1 provider", async () => {
            const { cloud, outputs, warnings } = await runShared(VALID_CONFIG);
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), SAMPLE_PRICES["us-east-1"]["g4dn.xlarge"].onDemand);
            assert.deepStrictEqual(warnings, []);
            const lookup = cloud.calls.find((call) => call.token === INVOKE_TOKENS.getProduct);
            assert.ok(lookup);
            assert.strictEqual(lookup.inputs.serviceCode, "AmazonEC2");
            const filters = Object.fromEntries(lookup.inputs.filters.map((f: { field: string; value: string }) => [f.field, f.value]));
            assert.deepStrictEqual(filters, {
                instanceType: "g4dn.xlarge", regionCode: "us-east-1", operatingSystem: "Linux", tenancy: "Shared",
                preInstalledSw: "NA", licenseModel: "No License required", capacitystatus: "Used", marketoption: "OnDemand",
            });
            const provider = cloud.resources.find((resource) => resource.type === "pulumi:providers:aws");
            assert.strictEqual(provider?.inputs.region, PRICE_LIST_REGION);
            assert.match(lookup.provider ?? "", /pulumi:providers:aws::notebook-price-list::/, "the lookup goes through that provider");
        });

        it("follows the instance type", async () => {
            const { outputs } = await runShared({ ...VALID_CONFIG, instanceType: "g5.xlarge" });
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), SAMPLE_PRICES["us-east-1"]["g5.xlarge"].onDemand);
        });

        it("asks for the stack's region even though the Price List endpoint is in us-east-1", async () => {
            const cloud = cloudIn("eu-west-1");
            const { outputs, warnings } = await runProgram(VALID_CONFIG, cloud);
            const lookup = cloud.calls.find((call) => call.token === INVOKE_TOKENS.getProduct);
            assert.ok(lookup?.inputs.filters.some((f: { field: string; value: string }) => f.field === "regionCode" && f.value === "eu-west-1"));
            // The mocks know no eu-west-1 price, as the real API knows none for a product that does not match.
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), undefined);
            assert.strictEqual(warnings.length, 1);
        });

        it("is the latest spot price for spot, from the stack's region", async () => {
            const { cloud, outputs } = await runShared({ ...VALID_CONFIG, spot: "true" });
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), SAMPLE_PRICES["us-east-1"]["g4dn.xlarge"].spot);
            const lookup = cloud.calls.find((call) => call.token === INVOKE_TOKENS.getSpotPrice);
            assert.strictEqual(lookup?.inputs.instanceType, "g4dn.xlarge");
            assert.deepStrictEqual(lookup?.inputs.filters, [{ name: "product-description", values: ["Linux/UNIX"] }]);
            assert.ok(!cloud.calls.some((call) => call.token === INVOKE_TOKENS.getProduct), "no on-demand lookup for spot");
        });

        it("when the lookup is denied, warns and deploys anyway without a price", async () => {
            const cloud = new MockCloud({
                invokes: {
                    [INVOKE_TOKENS.getProduct]: () => {
                        throw new Error("operation error Pricing: GetProducts, StatusCode: 400, api error AccessDeniedException: " +
                            "User is not authorized to perform: pricing:GetProducts");
                    },
                },
            });
            const { outputs, warnings } = await runProgram(VALID_CONFIG, cloud);
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), undefined);
            assert.strictEqual(cloud.ofType(INSTANCE).length, 1, "the notebook is still created");
            assert.strictEqual(warnings.length, 1);
            assert.match(warnings[0], /could not look up the on-demand price of g4dn\.xlarge in us-east-1/);
            assert.match(warnings[0], /needs pricing:GetProducts/);
        });

        it("when the spot price lookup fails, warns and names its permission", async () => {
            const cloud = new MockCloud({
                invokes: { [INVOKE_TOKENS.getSpotPrice]: () => { throw new Error("UnauthorizedOperation"); } },
            });
            const { outputs, warnings } = await runProgram({ ...VALID_CONFIG, spot: "true" }, cloud);
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), undefined);
            assert.match(warnings.join("\n"), /spot price of g4dn\.xlarge .*ec2:DescribeSpotPriceHistory/);
        });
    });
});
