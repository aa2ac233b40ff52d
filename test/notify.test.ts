// What running unattended deploys: the last-stop record always, the topic, its email
// subscription and the webhook's SecureString only when asked for, each readable or writable by
// this notebook's machine alone, machine.json's `unattended` object, and the budget's alerts on
// the same topic. Under mocks, against the real program.
import * as assert from "assert";

import { readFileSync } from "fs";
import * as path from "path";

import { DEFAULTS } from "../components/config";
import { INSTANCE_PATHS, NOTEBOOK_DIR_NAME, ON_STOP_HOOK, STOP_REASONS, UNATTENDED } from "../components/contract";
import { FAKE_ACCOUNT, MockCloud, RecordedResource } from "../components/offline/mock-cloud";
import { unwrap } from "../components/offline/run-program";
import { refusal, registered, runFleet, runShared, VALID_CONFIG } from "./support/program";
import { bundleFilesOf, machineJsonOf, userDataOf } from "./support/user-data";
import { BUDGET, INSTANCE, PARAMETER, ROLE, ROLE_POLICY, SUBSCRIPTION, TOPIC, TOPIC_POLICY } from "./support/types";

const WEBHOOK = "https://hooks.slack.com/services/T000/B000/S3CR3T-W3BH00K";

/** Every statement the instance's role is allowed, from all its inline policies. */
function instanceStatements(cloud: MockCloud, prefix = "notebook"): Record<string, unknown>[] {
    const role = cloud.ofType(ROLE).find((each) => each.name === `${prefix}-instance-role`) as RecordedResource;
    return cloud.ofType(ROLE_POLICY).filter((policy) => policy.inputs.role.startsWith(role.name))
        .flatMap((policy) => JSON.parse(policy.inputs.policy).Statement);
}

function parameter(cloud: MockCloud, name: string): RecordedResource {
    return cloud.ofType(PARAMETER).find((each) => each.name === name) as RecordedResource;
}

describe("unattended runs, deployed", () => {
    describe("by default", () => {
        it("creates no topic, no subscription, no webhook and no topic policy: nothing that mails or costs", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            assert.deepStrictEqual([TOPIC, SUBSCRIPTION, TOPIC_POLICY].map((type) => cloud.ofType(type).length), [0, 0, 0]);
            assert.deepStrictEqual(cloud.ofType(PARAMETER).map((each) => each.name), ["notebook-last-stop"], "only the last-stop record");
        });

        it("keeps the last stop's record in a free String parameter that later runs never reset", async () => {
            const run = await runShared(VALID_CONFIG);
            const lastStop = parameter(run.cloud, "notebook-last-stop");
            assert.strictEqual(lastStop.inputs.name, "/gpu-notebook/dev/notebook/last-stop");
            assert.strictEqual(lastStop.inputs.type, "String");
            assert.strictEqual(lastStop.inputs.value, "{}");
            const options = run.options.find((each) => each.name === "notebook-last-stop");
            assert.deepStrictEqual(options?.opts.ignoreChanges, ["value"], "the machine's record is its own");
            assert.strictEqual(await unwrap(run.outputs.lastStopParameter),
                `arn:aws:ssm:us-east-1:${FAKE_ACCOUNT}:parameter/gpu-notebook/dev/notebook/last-stop`);
        });

        it("lets the machine write its own last stop and nothing else of the sort", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            const unattended = instanceStatements(cloud).filter((statement) => /^(ssm|sns):/.test(String(statement.Action)));
            assert.deepStrictEqual(unattended, [{
                Effect: "Allow", Action: "ssm:PutParameter", Resource: `arn:aws:ssm:us-east-1:${FAKE_ACCOUNT}:parameter/gpu-notebook/dev/notebook/last-stop`,
            }]);
        });

        it("tells the machine the stall limit, the grace, the contract's limits and its record, and no notifications", async () => {
            const { cloud } = await runShared(VALID_CONFIG);
            const machine = machineJsonOf(cloud, cloud.one(INSTANCE));
            assert.deepStrictEqual(machine.unattended, {
                label: "gpu-notebook dev",
                jobStallMinutes: 60,
                jobStopGraceSeconds: 60,
                hookTimeoutSeconds: UNATTENDED.hookTimeoutSeconds,
                spotPollSeconds: UNATTENDED.spotPollSeconds,
                spotDeadlineSeconds: UNATTENDED.spotDeadlineSeconds,
                lastStopParameter: "/gpu-notebook/dev/notebook/last-stop",
                notify: null,
            });
            assert.strictEqual(machine.tags.stopReason, "gpuNotebookStopReason");
        });
    });

    describe("with notifyEmail", () => {
        const CONFIG = { ...VALID_CONFIG, notifyEmail: "me@example.org", jobStallMinutes: "0", jobStopGraceSeconds: "90" };

        it("makes the notebook's topic with the address subscribed by email, and says AWS mails a confirmation first", async () => {
            const { cloud, infos } = await runShared(CONFIG);
            const topic = cloud.one(TOPIC);
            assert.strictEqual(topic.inputs.displayName, "gpu-notebook dev");
            const subscription = cloud.one(SUBSCRIPTION);
            assert.deepStrictEqual({ ...subscription.inputs }, { topic: topic.computed.arn, protocol: "email", endpoint: "me@example.org" });
            assert.ok(infos.some((line) => /^notifications: notebook mails me@example\.org through an SNS topic; AWS sends a confirmation mail first, and nothing arrives until its link is clicked/.test(line)), infos.join("\n"));
        });

        it("lets the machine publish to that one topic, and nothing wider", async () => {
            const { cloud } = await runShared(CONFIG);
            const publish = instanceStatements(cloud).filter((statement) => String(statement.Action).startsWith("sns:"));
            assert.deepStrictEqual(publish, [{ Effect: "Allow", Action: "sns:Publish", Resource: cloud.one(TOPIC).computed.arn }]);
        });

        it("tells the machine where to publish, which events, the stall limit and the grace it was given", async () => {
            const { cloud } = await runShared(CONFIG);
            const { unattended } = machineJsonOf(cloud, cloud.one(INSTANCE));
            assert.deepStrictEqual(unattended.notify, {
                events: ["job-finished", "job-failed", "job-stalled", "stopping", "budget"], topicArn: cloud.one(TOPIC).computed.arn, webhookParameter: null,
            });
            assert.strictEqual(unattended.jobStallMinutes, 0);
            assert.strictEqual(unattended.jobStopGraceSeconds, 90);
        });

        it("sends the budget's alerts to the topic too, which AWS Budgets of this account alone may publish to", async () => {
            const { cloud, options } = await runShared({ ...CONFIG, monthlyBudgetUsd: "40", alertEmail: "me@example.org" });
            const topicArn = cloud.one(TOPIC).computed.arn as string;
            const notifications = cloud.one(BUDGET).inputs.notifications as { subscriberSnsTopicArns?: string[]; subscriberEmailAddresses: string[] }[];
            assert.ok(notifications.length > 0 && notifications.every((each) =>
                JSON.stringify(each.subscriberSnsTopicArns) === JSON.stringify([topicArn]) && each.subscriberEmailAddresses[0] === "me@example.org"));
            const policy = cloud.one(TOPIC_POLICY);
            assert.strictEqual(policy.inputs.arn, topicArn);
            assert.deepStrictEqual(JSON.parse(policy.inputs.policy).Statement, [{
                Sid: "AWSBudgetsSNSPublishingPermissions",
                Effect: "Allow",
                Principal: { Service: "budgets.amazonaws.com" },
                Action: "SNS:Publish",
                Resource: topicArn,
                Condition: { StringEquals: { "aws:SourceAccount": FAKE_ACCOUNT }, ArnLike: { "aws:SourceArn": `arn:aws:budgets::${FAKE_ACCOUNT}:*` } },
            }]);
            // Budgets checks it may publish when the budget is made: the policy comes first.
            const budgetOptions = options.find((each) => each.type === BUDGET);
            assert.ok((budgetOptions?.opts.dependsOn as unknown[] | undefined)?.length === 1, "the budget waits for the topic policy");
        });

        it("keeps the budget's alerts to email when budget is not among the events", async () => {
            const { cloud } = await runShared({ ...CONFIG, notifyOn: "stopping", monthlyBudgetUsd: "40", alertEmail: "me@example.org" });
            assert.strictEqual(cloud.ofType(TOPIC_POLICY).length, 0);
            const notifications = cloud.one(BUDGET).inputs.notifications as Record<string, unknown>[];
            assert.ok(notifications.every((each) => each.subscriberSnsTopicArns === undefined));
        });
    });

    describe("with notifyWebhook", () => {
        const CONFIG = { ...VALID_CONFIG, notifyWebhook: WEBHOOK };

        it("keeps the URL in a SecureString parameter, as a secret, and makes no topic", async () => {
            const { cloud } = await runShared(CONFIG);
            const webhook = parameter(cloud, "notebook-webhook");
            assert.strictEqual(webhook.inputs.type, "SecureString");
            assert.strictEqual(webhook.inputs.name, "/gpu-notebook/dev/notebook/webhook");
            assert.strictEqual(webhook.inputs.value, WEBHOOK);
            assert.ok(webhook.secretInputs.includes("value"), "the URL is a Pulumi secret");
            assert.strictEqual(cloud.ofType(TOPIC).length, 0, "a webhook alone needs no topic");
        });

        it("lets only this machine read it, that one parameter", async () => {
            const { cloud } = await runShared(CONFIG);
            const reads = instanceStatements(cloud).filter((statement) => statement.Action === "ssm:GetParameter");
            assert.deepStrictEqual(reads, [{ Effect: "Allow", Action: "ssm:GetParameter", Resource: parameter(cloud, "notebook-webhook").computed.arn }]);
            const others = cloud.ofType(ROLE_POLICY).filter((policy) => !policy.inputs.role.startsWith("notebook-instance-role"));
            assert.ok(others.every((policy) => !policy.inputs.policy.includes("/webhook")), "no other role may read it");
        });

        it("names the parameter to the machine, and the URL appears in no other resource, the bundle, the user data or an output", async () => {
            const { cloud, outputs } = await runShared(CONFIG);
            assert.strictEqual(machineJsonOf(cloud, cloud.one(INSTANCE)).unattended.notify.webhookParameter, "/gpu-notebook/dev/notebook/webhook");
            const elsewhere = cloud.resources.filter((resource) => resource.name !== "notebook-webhook")
                .filter((resource) => JSON.stringify(resource.inputs).includes("S3CR3T-W3BH00K"));
            assert.deepStrictEqual(elsewhere.map((resource) => resource.name), []);
            const instance = cloud.one(INSTANCE);
            for (const file of bundleFilesOf(cloud, instance)) {
                assert.ok(!file.content.includes("S3CR3T-W3BH00K"), `the bundle's ${file.path}`);
            }
            assert.ok(!userDataOf(instance).includes("S3CR3T-W3BH00K"), "the user data");
            for (const [name, value] of Object.entries(outputs)) {
                assert.ok(!JSON.stringify(await unwrap(value as never)).includes("S3CR3T-W3BH00K"), `output ${name}`);
            }
        });
    });

    it("refuses bad notification settings before anything is created", async () => {
        const configs: Record<string, string>[] = [
            { notifyEmail: "me@example" }, { notifyWebhook: "http://hooks.example.org/x" }, { notifyOn: "job-finished,lunch" },
            { jobStallMinutes: "-1" }, { jobStopGraceSeconds: "-1" },
        ];
        for (const config of configs) {
            const cloud = new MockCloud();
            const error = await refusal({ ...VALID_CONFIG, ...config }, cloud);
            assert.match(error.message, new RegExp(`^Configuration refused, nothing was created:\\n  - gpu-notebook:${Object.keys(config)[0]}`));
            assert.deepStrictEqual(registered(cloud), [], JSON.stringify(config));
        }
    });
});

describe("unattended runs in a class", () => {
    it("sends every notebook's notifications to the teacher's one address, each from its own topic and under its own name", async () => {
        const { cloud } = await runFleet({ alice: {}, bob: { notifyOn: ["job-failed"] }, carol: { notifyEmail: "carol@example.org" } },
            { ...VALID_CONFIG, notifyEmail: "teacher@example.org" });
        const subscriptions = cloud.ofType(SUBSCRIPTION).map((each) => [each.name, each.inputs.endpoint]).sort();
        assert.deepStrictEqual(subscriptions, [
            ["alice-notify-email", "teacher@example.org"], ["bob-notify-email", "teacher@example.org"], ["carol-notify-email", "carol@example.org"],
        ]);
        const topics = cloud.ofType(TOPIC);
        assert.deepStrictEqual(topics.map((topic) => topic.inputs.displayName).sort(), ["gpu-notebook dev/alice", "gpu-notebook dev/bob", "gpu-notebook dev/carol"]);
        for (const name of ["alice", "bob", "carol"]) {
            const machine = cloud.ofType(INSTANCE).find((each) => each.name === `${name}-instance`) as RecordedResource;
            const { unattended } = machineJsonOf(cloud, machine);
            const topic = topics.find((each) => each.name === `${name}-notify`) as RecordedResource;
            assert.strictEqual(unattended.label, `gpu-notebook dev/${name}`);
            assert.strictEqual(unattended.notify.topicArn, topic.computed.arn, `${name}'s machine publishes to its own topic`);
            assert.strictEqual(unattended.lastStopParameter, `/gpu-notebook/dev/${name}/last-stop`);
            const publish = instanceStatements(cloud, name).filter((statement) => statement.Action === "sns:Publish");
            assert.deepStrictEqual(publish, [{ Effect: "Allow", Action: "sns:Publish", Resource: topic.computed.arn }], `${name} may publish to its own topic only`);
        }
        const bob = machineJsonOf(cloud, cloud.ofType(INSTANCE).find((each) => each.name === "bob-instance") as RecordedResource);
        assert.deepStrictEqual(bob.unattended.notify.events, ["job-failed"]);
    });

    it("gives each notebook its own stall limit, grace and webhook, and none to those without", async () => {
        const { cloud } = await runFleet({ alice: { notifyWebhook: WEBHOOK, jobStallMinutes: 0 }, bob: { jobStopGraceSeconds: 600 } });
        assert.deepStrictEqual(cloud.ofType(PARAMETER).map((each) => each.name).sort(), ["alice-last-stop", "alice-webhook", "bob-last-stop"]);
        const machineOf = (name: string) => machineJsonOf(cloud, cloud.ofType(INSTANCE).find((each) => each.name === `${name}-instance`) as RecordedResource);
        assert.strictEqual(machineOf("alice").unattended.jobStallMinutes, 0);
        assert.strictEqual(machineOf("alice").unattended.notify.webhookParameter, "/gpu-notebook/dev/alice/webhook");
        assert.strictEqual(machineOf("bob").unattended.jobStopGraceSeconds, 600);
        assert.strictEqual(machineOf("bob").unattended.notify, null);
        assert.strictEqual(cloud.ofType(TOPIC).length, 0);
        assert.ok(!instanceStatements(cloud, "bob").some((statement) => statement.Action === "ssm:GetParameter"), "bob's machine cannot read alice's webhook");
    });
});

describe("the README's Unattended runs section", () => {
    // The facts it states are the contract's and the program's: a changed limit or path shows here.
    const section = /^### Unattended runs\n[\s\S]*?(?=\n### )/m.exec(readFileSync(path.join(__dirname, "..", "README.md"), "utf8"))?.[0] ?? "";

    it("names where the hook's output and the delivery log are, and the limits the machine keeps", () => {
        for (const fact of [
            INSTANCE_PATHS.notifyLog, `~/${NOTEBOOK_DIR_NAME}/${ON_STOP_HOOK}`, `~/${NOTEBOOK_DIR_NAME}/${ON_STOP_HOOK}.log`,
            `at most ${UNATTENDED.hookTimeoutSeconds} seconds`, `every ${UNATTENDED.spotPollSeconds} seconds`, `within ${UNATTENDED.spotDeadlineSeconds} seconds`,
            `\`jobStopGraceSeconds\`\n   (default ${DEFAULTS.jobStopGraceSeconds})`, `\`jobStallMinutes\` (default ${DEFAULTS.jobStallMinutes})`,
            "GPU_NOTEBOOK_STOP_REASON", "GPU_NOTEBOOK_STOP_DETAIL",
        ]) {
            assert.ok(section.includes(fact), `the section does not say ${JSON.stringify(fact)}`);
        }
        assert.ok(section.includes(STOP_REASONS.map((reason) => `\`${reason}\``).join(", ")), "every stop reason, in the contract's order");
    });
});
