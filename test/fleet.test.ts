// A stack with config `notebooks` (a class), the whole program under mocks: one isolated
// notebook per entry, what they share made once, the outputs, the account's quotas checked for
// all of them together, and an entry added or removed touching no other notebook. The parsing of
// `notebooks` is tested on its own, without a program run.
import * as assert from "assert";
import { X509Certificate } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

import { INVOKE_TOKENS } from "../components/aws-data";
import { DeployRefused, NamedSettings, parseConfig, parseStackConfig } from "../components/config";
import { FLEET_PUBLIC_OUTPUTS } from "../components/fleet";
import { zoneSubnetCidr } from "../components/network";
import { SECRET_OUTPUTS } from "../components/notebook";
import { jupyterPasswordMatches } from "../components/password";
import { sshCommandText } from "../components/ssh-command";
import { FakeAws, MockCloud, RecordedResource } from "../components/offline/mock-cloud";
import { unwrap } from "../components/offline/run-program";
import { FleetRun, registered, runFleet, VALID_CONFIG } from "./support/program";
import { recordRun } from "./support/recording";
import { userDataOf } from "./support/user-data";
import { INSTANCE, QUOTA } from "./support/types";

/** Three students, carol with a bigger GPU; the account has a budget. */
const CLASS = { alice: {}, bob: {}, carol: { instanceType: "g5.xlarge" } };
const BUDGET = { ...VALID_CONFIG, monthlyBudgetUsd: "200", alertEmail: "teacher@example.org" };
/** An account holding one address already, allowed 4: exactly enough for the class of three. */
const ONE_ADDRESS_HELD: Partial<FakeAws> = {
    addresses: [{ allocationId: "eipalloc-0aaaaaaaaaaaaaaaa", publicIp: "198.51.100.200", tags: { Name: "someone-else" } }],
    quotas: { "L-DB2E81BA": 16, "L-0263D0A3": 4 },
};

function account(world: Partial<FakeAws> = {}): MockCloud {
    return new MockCloud({ world });
}

/** The run's error, which must be a refusal. */
async function fleetRefusal(notebooks: Record<string, unknown>, config: Record<string, string>, cloud: MockCloud): Promise<DeployRefused> {
    try {
        await runFleet(notebooks as Record<string, Record<string, unknown>>, config, cloud);
    } catch (error) {
        assert.ok(error instanceof DeployRefused, `a DeployRefused, got ${error}`);
        return error;
    }
    throw new Error("expected the program to refuse");
}

function parsedFleet(notebooks: unknown, config: Record<string, string> = VALID_CONFIG): NamedSettings[] {
    const stack = parseStackConfig({ ...config, notebooks: JSON.stringify(notebooks) });
    assert.strictEqual(stack.kind, "fleet");
    return stack.kind === "fleet" ? stack.notebooks : [];
}

function configRefusal(notebooks: unknown, config: Record<string, string> = VALID_CONFIG): string {
    try {
        parseStackConfig({ ...config, notebooks: typeof notebooks === "string" ? notebooks : JSON.stringify(notebooks) });
    } catch (error) {
        assert.ok(error instanceof DeployRefused, `a DeployRefused, got ${error}`);
        return error.message;
    }
    throw new Error("expected the config to be refused");
}

let classRun: Promise<FleetRun> | undefined;
/** The class of three in an account holding one other address, run once for every test that reads it. */
const theClass = () => (classRun ??= runFleet(CLASS, BUDGET, account(ONE_ADDRESS_HELD)));

/** A notebook's component and resources, by their names. */
function ofNotebook<T extends { name: string }>(items: T[], notebook: string): T[] {
    return items.filter((item) => item.name === notebook || item.name.startsWith(`${notebook}-`));
}

describe("a stack with notebooks (a class)", () => {
    describe("the notebooks", () => {
        it("makes one instance per entry, of the entry's type or the top-level one", async () => {
            const { cloud } = await theClass();
            const types = Object.fromEntries(cloud.ofType(INSTANCE).map((instance) => [instance.name, instance.inputs.instanceType]));
            assert.deepStrictEqual(types, { "alice-instance": "g4dn.xlarge", "bob-instance": "g4dn.xlarge", "carol-instance": "g5.xlarge" });
        });

        it("gives every notebook its own login key, host key, TLS key, password, certificate and address", async () => {
            const { cloud, outputs } = await theClass();
            const notebooks = await unwrap(outputs.notebooks);
            const secrets = await unwrap(outputs.notebookSecrets);
            const distinct = (values: unknown[]) => assert.strictEqual(new Set(values).size, 3, JSON.stringify(values));
            distinct(cloud.ofType("aws:ec2/keyPair:KeyPair").map((pair) => pair.inputs.publicKey));
            distinct(cloud.ofType(INSTANCE).map((instance) => parse(userDataOf(instance)).ssh_keys.ed25519_public));
            distinct(cloud.ofType("tls:index/privateKey:PrivateKey").filter((key) => key.name.endsWith("-tls-key")).map((key) => key.computed.privateKeyPem));
            distinct(Object.values(secrets).map((secret) => secret.notebookPassword));
            distinct(Object.values(secrets).map((secret) => secret.sshPrivateKey));
            distinct(Object.values(notebooks).map((notebook) => notebook.notebookCertificatePem));
            distinct(Object.values(notebooks).map((notebook) => notebook.publicIp));
            for (const [name, notebook] of Object.entries(notebooks)) {
                const certificate = new X509Certificate(notebook.notebookCertificatePem);
                assert.ok(certificate.checkIP(notebook.publicIp), `${name}'s certificate names ${name}'s address`);
            }
        });

        it("attaches each notebook's address and data volume to its own machine, behind its own firewall rules", async () => {
            const { cloud } = await theClass();
            const idOf = (type: string, name: string) => {
                const found = cloud.ofType(type).find((resource) => resource.name === name);
                assert.ok(found, `${type} ${name}`);
                return found.computed.id ?? found.computed.allocationId;
            };
            for (const name of Object.keys(CLASS)) {
                const instance = cloud.ofType(INSTANCE).find((resource) => resource.name === `${name}-instance`);
                assert.ok(instance);
                const group = idOf("aws:ec2/securityGroup:SecurityGroup", `${name}-sg`);
                assert.deepStrictEqual(instance.inputs.vpcSecurityGroupIds, [group]);
                const rules = ofNotebook(cloud.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"), name);
                assert.deepStrictEqual(rules.map((rule) => [rule.inputs.securityGroupId, rule.inputs.fromPort, rule.inputs.cidrIpv4]).sort(),
                    [[group, 22, "198.51.100.7/32"], [group, 8888, "198.51.100.7/32"]]);
                const association = cloud.ofType("aws:ec2/eipAssociation:EipAssociation").find((resource) => resource.name === `${name}-ip-association`);
                assert.deepStrictEqual(association?.inputs, { allocationId: idOf("aws:ec2/eip:Eip", `${name}-ip`), instanceId: idOf(INSTANCE, `${name}-instance`) });
                const attachment = cloud.ofType("aws:ec2/volumeAttachment:VolumeAttachment").find((resource) => resource.name === `${name}-data-attachment`);
                assert.strictEqual(attachment?.inputs.volumeId, idOf("aws:ebs/volume:Volume", `${name}-data`));
                assert.strictEqual(attachment?.inputs.instanceId, idOf(INSTANCE, `${name}-instance`));
            }
        });

        it("names each notebook's resources after its entry, under its own component, with its own idle backstop", async () => {
            const { cloud, options } = await theClass();
            const components = cloud.ofType("gpu-notebook:index:GpuNotebook").map((component) => component.name);
            assert.deepStrictEqual(components.sort(), ["alice", "bob", "carol"]);
            for (const name of components) {
                const children = ofNotebook(options, name).filter((entry) => entry.type !== "gpu-notebook:index:GpuNotebook");
                assert.ok(children.length >= 15, `${name} has its resources`);
                for (const child of children) {
                    assert.strictEqual((child.opts.parent as unknown as { __name: string }).__name, name, `${child.name} is ${name}'s`);
                }
                const alarm = cloud.ofType("aws:cloudwatch/metricAlarm:MetricAlarm").find((resource) => resource.name === `${name}-idle-backstop`);
                assert.match(alarm?.inputs.alarmDescription, new RegExp(`gpu-notebook gpu-notebook-dev-${name}:`));
            }
        });

        it("makes the shared things once, at the stack: the budget and the Price List provider", async () => {
            const { cloud, options } = await theClass();
            const shared = options.filter((entry) => entry.opts.parent === undefined || (entry.opts.parent as unknown as { __name: string }).__name === "gpu-notebook-dev")
                .map((entry) => `${entry.type} ${entry.name}`);
            assert.deepStrictEqual(shared.filter((entry) => !entry.startsWith("gpu-notebook:index:GpuNotebook")).sort(), [
                "aws:budgets/budget:Budget shared-budget", "pulumi:providers:aws shared-price-list",
            ]);
            assert.strictEqual(cloud.one("aws:budgets/budget:Budget").inputs.limitAmount, "200.00");
            assert.strictEqual(cloud.ofType("pulumi:providers:aws").length, 1);
        });
    });

    describe("the outputs", () => {
        it("are the notebooks map, the secret map and the class's hourly price, nothing per notebook at the top", async () => {
            const { outputs } = await theClass();
            assert.deepStrictEqual(Object.keys(outputs).sort(), ["estimatedHourlyCostUsd", "notebookSecrets", "notebooks"]);
            assert.strictEqual(await unwrap(outputs.estimatedHourlyCostUsd), 2.058, "0.526 + 0.526 + 1.006");
        });

        it("lists every notebook's address, URL, SSH command and certificate in a map that is not secret", async () => {
            const { outputs } = await theClass();
            assert.strictEqual(await pulumi.isSecret(outputs.notebooks), false);
            const notebooks = await unwrap(outputs.notebooks);
            assert.deepStrictEqual(Object.keys(notebooks), ["alice", "bob", "carol"]);
            for (const [name, notebook] of Object.entries(notebooks)) {
                assert.deepStrictEqual(Object.keys(notebook).sort(), [...FLEET_PUBLIC_OUTPUTS].sort());
                assert.strictEqual(notebook.sshCommand, sshCommandText({
                    label: `gpu-notebook-dev-${name}`, user: "ubuntu", ip: notebook.publicIp, knownHosts: notebook.sshKnownHosts,
                    stack: "dev", notebookName: name,
                }));
                assert.strictEqual(notebook.notebookUrl, `https://${notebook.publicIp}:8888/`);
                assert.match(notebook.sshKnownHosts, new RegExp(`^${notebook.publicIp.replace(/\./g, "\\.")} ssh-ed25519 AAAA`));
            }
            assert.strictEqual(notebooks.carol.estimatedHourlyCostUsd, 1.006);
            assert.doesNotMatch(JSON.stringify(notebooks), /PRIVATE KEY/);
        });

        it("keeps each notebook's password and SSH private key in a secret map", async () => {
            const { outputs } = await theClass();
            assert.strictEqual(await pulumi.isSecret(outputs.notebookSecrets), true);
            const secrets = await unwrap(outputs.notebookSecrets);
            const notebooks = await unwrap(outputs.notebooks);
            for (const name of Object.keys(CLASS)) {
                assert.deepStrictEqual(Object.keys(secrets[name]).sort(), [...SECRET_OUTPUTS].sort());
                assert.match(secrets[name].sshPrivateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
                assert.ok(!JSON.stringify(notebooks).includes(secrets[name].notebookPassword), `${name}'s password is not in the public map`);
            }
        });
    });

    describe("an entry added or removed", () => {
        it("leaves the other notebooks' recorded resources, options and secrets identical", async () => {
            const three = await recordRun(await theClass());
            // One program run at a time: the mocks and the config are the process's.
            const withDave = await runFleet({ ...CLASS, dave: { instanceType: "g6e.xlarge" } }, BUDGET, account({ quotas: { "L-DB2E81BA": 16, "L-0263D0A3": 5 } }));
            assert.strictEqual(await unwrap(withDave.outputs.estimatedHourlyCostUsd), undefined, "dave's price is unknown offline, so the total is too");
            const four = await recordRun(withDave);
            for (const name of Object.keys(CLASS)) {
                const before = ofNotebook(three.resources as { name: string }[], name);
                assert.ok(before.length >= 20, `${name} recorded`);
                assert.deepStrictEqual(ofNotebook(four.resources as { name: string }[], name), before, `${name} unchanged`);
            }
            const added = ofNotebook(four.resources as { name: string }[], "dave");
            assert.ok(added.length >= 20, "dave's notebook is added");
            const daveVolume = added.find((resource) => resource.name === "dave-data") as { inputs: Record<string, unknown> } | undefined;
            assert.strictEqual(daveVolume?.inputs.finalSnapshot, true, "removing dave again keeps a final snapshot of his data");
        });
    });
});

describe("config notebooks", () => {
    it("gives an empty entry, or a bare name, every top-level setting", () => {
        const single = parseConfig({ ...VALID_CONFIG, instanceType: "g5.xlarge" });
        const [alice, bob] = parsedFleet({ alice: {}, bob: null }, { ...VALID_CONFIG, instanceType: "g5.xlarge" });
        assert.deepStrictEqual([alice.name, bob.name], ["alice", "bob"]);
        assert.deepStrictEqual(alice.settings, single);
        assert.deepStrictEqual(bob.settings, single);
    });

    it("takes an entry's keys over the top-level ones, as `pulumi config set --path` stores them: booleans, numbers, lists", () => {
        const [alice, bob] = parsedFleet({
            alice: { running: false, notebookPort: 9443, allowedCidrs: ["203.0.113.0/24"], spot: "true" },
            bob: { idleStopMinutes: 0 },
        }, { ...VALID_CONFIG, idleStopMinutes: "30" });
        assert.strictEqual(alice.settings.running, false);
        assert.strictEqual(alice.settings.notebookPort, 9443);
        assert.strictEqual(alice.settings.spot, true);
        assert.deepStrictEqual(alice.settings.allowedCidrs, ["203.0.113.0/24"]);
        assert.strictEqual(alice.settings.idleStopMinutes, 30, "inherited");
        assert.deepStrictEqual(bob.settings.allowedCidrs, ["198.51.100.7/32"], "inherited");
        assert.strictEqual(bob.settings.idleStopMinutes, 0);
        assert.deepStrictEqual([...alice.ownKeys].sort(), ["allowedCidrs", "notebookPort", "running", "spot"]);
    });

    it("gives every notebook the teacher's notification address, and lets an entry choose its own events, webhook, stall and grace", () => {
        const [alice, bob, carol] = parsedFleet({
            alice: {},
            bob: { notifyOn: ["job-failed"], jobStallMinutes: 0, jobStopGraceSeconds: 300 },
            carol: { notifyEmail: "carol@example.org", notifyWebhook: "https://discord.com/api/webhooks/1/abc" },
        }, { ...VALID_CONFIG, notifyEmail: "teacher@example.org", notifyOn: "stopping,job-stalled", jobStallMinutes: "30" });
        assert.deepStrictEqual([alice, bob].map(({ settings }) => settings.notifyEmail), ["teacher@example.org", "teacher@example.org"]);
        assert.strictEqual(carol.settings.notifyEmail, "carol@example.org");
        assert.deepStrictEqual(alice.settings.notifyOn, ["stopping", "job-stalled"], "inherited");
        assert.deepStrictEqual(bob.settings.notifyOn, ["job-failed"]);
        assert.deepStrictEqual([alice, bob, carol].map(({ settings }) => settings.jobStallMinutes), [30, 0, 30]);
        assert.deepStrictEqual([alice, bob, carol].map(({ settings }) => settings.jobStopGraceSeconds), [60, 300, 60]);
        assert.deepStrictEqual([alice, bob, carol].map(({ settings }) => settings.notifyWebhook),
            [undefined, undefined, "https://discord.com/api/webhooks/1/abc"]);
    });

    it("refuses a bad notification setting in an entry under the entry's path, and an inherited one once", () => {
        const message = configRefusal({
            alice: { notifyWebhook: "http://example.org/T0P-SECRET" },
            bob: { notifyOn: ["finished"], jobStallMinutes: -5 },
            carol: {},
        }, { ...VALID_CONFIG, notifyEmail: "teacher at example.org" });
        for (const expected of [
            'gpu-notebook:notifyEmail = "teacher at example.org" is not accepted: one email address',
            "gpu-notebook:notebooks.alice.notifyWebhook (a secret, http: URL) is not accepted: an https:// URL",
            'gpu-notebook:notebooks.bob.notifyOn = ["finished"] is not accepted: finished is not an event',
            "gpu-notebook:notebooks.bob.jobStallMinutes = -5 is not accepted: a whole number of minutes",
        ]) {
            assert.ok(message.includes(expected), `${expected}\nin\n${message}`);
        }
        assert.strictEqual(message.split("\n").filter((line) => line.includes("notifyEmail")).length, 1, message);
        assert.ok(!message.includes("T0P-SECRET"), "the webhook is never shown");
    });

    it("keeps the account's budget at the stack, never in a notebook's settings", () => {
        const stack = parseStackConfig({ ...BUDGET, notebooks: JSON.stringify({ alice: {} }) });
        assert.ok(stack.kind === "fleet");
        assert.deepStrictEqual(stack.budget, { monthlyBudgetUsd: 200, alertEmail: "teacher@example.org" });
        assert.strictEqual(stack.notebooks[0].settings.monthlyBudgetUsd, undefined);
    });

    it("refuses every bad entry in one run, naming the notebook, the key, the value and what is accepted", () => {
        const message = configRefusal({
            bob: { instanceType: "t3.micro" },
            carol: { notebookPort: "http" },
            dave: { instancetype: "g5.xlarge" },
            erin: { notebookPassword: "short" },
            frank: { running: "yes" },
        });
        assert.match(message, /^Configuration refused, nothing was created:/);
        for (const expected of [
            'gpu-notebook:notebooks.bob.instanceType = "t3.micro" is not accepted: an NVIDIA GPU instance type',
            'gpu-notebook:notebooks.carol.notebookPort = "http" is not accepted: a whole number',
            "gpu-notebook:notebooks.dave.instancetype is not a setting this program reads; did you mean gpu-notebook:notebooks.dave.instanceType?",
            "gpu-notebook:notebooks.erin.notebookPassword (a secret of 5 characters) is not accepted: at least 12 characters",
            'gpu-notebook:notebooks.frank.running = "yes" is not accepted: true or false',
        ]) {
            assert.ok(message.includes(expected), `${expected}\nin\n${message}`);
        }
        assert.ok(!message.includes("short"), "the password is never shown");
    });

    it("refuses an account-wide key inside an entry, saying it is the account's and set at the top level", () => {
        const message = configRefusal({ alice: { monthlyBudgetUsd: 10 }, bob: { vpcId: "vpc-0123456789abcdef0" }, carol: { requestQuotaIncrease: true } });
        assert.match(message, /gpu-notebook:notebooks\.alice\.monthlyBudgetUsd = 10 is not accepted: one budget covers the whole AWS account, so it is set once, at the top level \(gpu-notebook:monthlyBudgetUsd\), for every notebook/);
        assert.match(message, /gpu-notebook:notebooks\.bob\.vpcId = "vpc-0123456789abcdef0" is not accepted: the notebooks of a stack share one network/);
        assert.match(message, /gpu-notebook:notebooks\.carol\.requestQuotaIncrease = true is not accepted: quotas are the account's/);
    });

    it("accepts names of 1 and 20 characters and refuses 21, a leading digit or a capital", () => {
        assert.deepStrictEqual(parsedFleet({ a: {}, ["t".repeat(20)]: {}, "team-3": {} }).map((notebook) => notebook.name), ["a", "team-3", "t".repeat(20)]);
        const message = configRefusal({ ["t".repeat(21)]: {}, "3d": {}, Alice: {}, alice: {} });
        for (const name of ["t".repeat(21), "3d", "Alice"]) {
            assert.ok(message.includes(`gpu-notebook:notebooks.${name} is not accepted: a notebook's name has lowercase letters, digits and hyphens, 1 to 20 characters, starting with a letter`), message);
        }
        assert.ok(!message.includes("notebooks.alice "), "alice is fine");
    });

    it("refuses an empty notebooks, or one that is not an object, without showing its value", () => {
        assert.match(configRefusal({}), /gpu-notebook:notebooks is not accepted: it has no notebook; name at least one .* or remove it for a stack of one notebook: pulumi config rm notebooks/);
        const message = configRefusal("alice-secret-password");
        assert.match(message, /gpu-notebook:notebooks is not accepted: an object of notebook names to their settings/);
        assert.ok(!message.includes("alice-secret-password"));
        assert.match(configRefusal({ alice: "g5.xlarge" }), /gpu-notebook:notebooks\.alice is not accepted: the notebook's own settings/);
    });

    it("reports a bad top-level default once: without names when every notebook inherits it, else naming those that do", () => {
        const everyone = configRefusal({ alice: {}, bob: {}, carol: {} }, { ...VALID_CONFIG, notebookPort: "80" });
        assert.strictEqual(everyone.split("\n").filter((line) => line.includes("notebookPort")).length, 1, everyone);
        assert.match(everyone, /^ {2}- gpu-notebook:notebookPort = 80 is not accepted/m);
        const some = configRefusal({ alice: {}, bob: {}, carol: { notebookPort: 9443 } }, { ...VALID_CONFIG, notebookPort: "80" });
        assert.match(some, /^ {2}- notebooks alice and bob: gpu-notebook:notebookPort = 80 is not accepted/m);
    });
});

describe("the network a class's notebooks share when the region has no default VPC", () => {
    it("gives each zone its own /24, numbered by the zone's letter, so adding a notebook in a new zone moves no other subnet", () => {
        assert.deepStrictEqual(["us-east-1a", "us-east-1b", "us-east-1f", "eu-west-3c"].map(zoneSubnetCidr),
            ["10.80.0.0/24", "10.80.1.0/24", "10.80.5.0/24", "10.80.2.0/24"]);
    });

    it("puts Local Zones above the regional zones' range, each on its own /24", () => {
        const [boston, chicago] = ["us-east-1-bos-1a", "us-east-1-chi-1a"].map((zone) => Number(zoneSubnetCidr(zone).split(".")[2]));
        assert.ok(boston >= 26 && boston <= 255 && chicago >= 26 && chicago <= 255, `${boston} ${chicago}`);
        assert.notStrictEqual(boston, chicago);
        assert.strictEqual(zoneSubnetCidr("us-east-1-bos-1a"), `10.80.${boston}.0/24`, "the same on every run");
    });
});

describe("a class's launch checks", () => {
    describe("the GPU vCPU quota, added up over the notebooks", () => {
        it("refuses one vCPU short of the class's total, naming the total, the quota and every notebook, and creates nothing", async () => {
            const cloud = account({ quotas: { "L-DB2E81BA": 11, "L-0263D0A3": 5 } });
            const error = await fleetRefusal({ alice: {}, bob: {}, carol: {} }, VALID_CONFIG, cloud);
            assert.match(error.message, /^Launch refused, nothing was created/);
            assert.ok(error.message.includes('notebooks alice (g4dn.xlarge), bob (g4dn.xlarge) and carol (g4dn.xlarge) need 12 vCPUs together ' +
                'of the AWS quota "Running On-Demand G and VT instances" (L-DB2E81BA) in us-east-1, but that quota is 11 vCPUs. Ask AWS for at least 12'), error.message);
            assert.deepStrictEqual(registered(cloud), []);
        });

        it("counts spot and P notebooks against their own quotas", async () => {
            const cloud = account({ quotas: { "L-DB2E81BA": 4, "L-3819A6DF": 4, "L-417A185B": 0, "L-0263D0A3": 5 } });
            const error = await fleetRefusal({ alice: {}, bob: { spot: true }, carol: { instanceType: "p4d.24xlarge" } }, VALID_CONFIG, cloud);
            assert.ok(error.message.includes('notebook carol (p4d.24xlarge) needs 96 vCPUs of the AWS quota "Running On-Demand P instances" (L-417A185B)'), error.message);
            assert.doesNotMatch(error.message, /L-DB2E81BA|L-3819A6DF/, "alice and bob each fit their own quota");
        });
    });

    describe("Elastic IPs: one per notebook, besides the addresses the account holds", () => {
        it("refuses a class that would hold one address more than the quota, with the numbers and how to ask, and creates nothing", async () => {
            const cloud = account({ ...ONE_ADDRESS_HELD, quotas: { "L-DB2E81BA": 16, "L-0263D0A3": 3 } });
            const error = await fleetRefusal(CLASS, VALID_CONFIG, cloud);
            assert.ok(error.message.includes("the stack's 3 notebooks keep an Elastic IP each (their stable address), and 3 of them have none yet; " +
                'the account already holds 1 in us-east-1, so it would hold 4, over the AWS quota "EC2-VPC Elastic IPs" (L-0263D0A3) in us-east-1, which is 3. ' +
                "Ask AWS for at least 4"), error.message);
            assert.match(error.message, /aws ec2 describe-addresses --region us-east-1/);
            assert.match(error.message, /pulumi config set gpu-notebook:requestQuotaIncrease true/);
            assert.deepStrictEqual(registered(cloud), []);
        });

        it("counts the class's own addresses once: running it again is not refused, a new notebook beyond the quota is", async () => {
            const first = await theClass();
            // The account now holds 4 of 4 addresses: the class's 3 and someone else's.
            const again = account(ONE_ADDRESS_HELD).deployedBy(first.cloud);
            assert.strictEqual(again.world.addresses.length, 4);
            await runFleet(CLASS, BUDGET, again);
            assert.strictEqual(again.ofType(INSTANCE).length, 3);
            const more = account(ONE_ADDRESS_HELD).deployedBy(first.cloud);
            const error = await fleetRefusal({ ...CLASS, dave: {} }, BUDGET, more);
            assert.match(error.message, /the stack's 4 notebooks keep an Elastic IP each .*, and 1 of them has none yet; the account already holds 4 in us-east-1, so it would hold 5/);
        });

        it("warns and goes on when the addresses cannot be listed", async () => {
            const cloud = new MockCloud({
                world: { quotas: { "L-DB2E81BA": 16, "L-0263D0A3": 5 } },
                invokes: { [INVOKE_TOKENS.getEips]: () => { throw new Error("UnauthorizedOperation: ec2:DescribeAddresses"); } },
            });
            const { warnings } = await runFleet({ alice: {} }, VALID_CONFIG, cloud);
            assert.ok(warnings.some((warning) => warning.includes('Could not check the AWS quota "EC2-VPC Elastic IPs" (L-0263D0A3) in us-east-1')), warnings.join("\n"));
        });
    });

    it("lists every notebook's launch problem in one refusal, each under its notebook's name", async () => {
        const cloud = account({ offerings: { "g5.xlarge": ["us-east-1b"] }, quotas: { "L-DB2E81BA": 16, "L-0263D0A3": 5 } });
        const error = await fleetRefusal({ alice: {}, bob: { instanceType: "g5.xlarge", availabilityZone: "us-east-1a" }, carol: { diskSizeGb: 20 } },
            VALID_CONFIG, cloud);
        assert.ok(error.message.includes('gpu-notebook:notebooks.bob.availabilityZone = "us-east-1a" is not accepted: g5.xlarge is not offered in us-east-1a'), error.message);
        assert.ok(error.message.includes("gpu-notebook:notebooks.carol.diskSizeGb = 20 is not accepted: the AMI"), error.message);
        assert.doesNotMatch(error.message, /alice/);
        assert.deepStrictEqual(registered(cloud), []);
    });

});

describe("a class in a new account: no default VPC, too little quota, alice with her own password", () => {
    const ALICE_PASSWORD = "alice-chose-this-one";
    let run: Promise<FleetRun> | undefined;
    const theNewAccount = () => (run ??= runFleet({ ...CLASS, alice: { notebookPassword: ALICE_PASSWORD } }, { ...VALID_CONFIG, requestQuotaIncrease: "true" },
        account({ defaultVpcId: undefined, offerings: { "g5.xlarge": ["us-east-1b"] }, quotas: { "L-DB2E81BA": 4, "L-0263D0A3": 2 } })));

    it("with requestQuotaIncrease, files one request per quota for the class's totals, and each machine and address waits for its own", async () => {
        const { cloud, warnings, options } = await theNewAccount();
        const requests = cloud.ofType(QUOTA).map((request) => [request.name, request.inputs.quotaCode, request.inputs.value]);
        assert.deepStrictEqual(requests.sort(), [["shared-quota-L-0263D0A3", "L-0263D0A3", 3], ["shared-quota-L-DB2E81BA", "L-DB2E81BA", 12]]);
        assert.ok(warnings.some((warning) => warning.includes("from 4 to 12 vCPUs")), warnings.join("\n"));
        assert.ok(warnings.some((warning) => warning.includes("from 2 to 3 addresses")), warnings.join("\n"));
        const waitsFor = (type: string, name: string) => (options.find((entry) => entry.type === type && entry.name === name)?.opts.dependsOn as unknown as { __name: string }[])
            .map((resource) => resource.__name);
        for (const name of Object.keys(CLASS)) {
            assert.ok(waitsFor(INSTANCE, `${name}-instance`).includes("shared-quota-L-DB2E81BA"), `${name}'s machine waits for the vCPU request`);
            assert.deepStrictEqual(waitsFor("aws:ec2/eip:Eip", `${name}-ip`), ["shared-quota-L-0263D0A3"]);
        }
    });

    it("shares one created network: one VPC, a subnet in each zone the notebooks use", async () => {
        const { cloud } = await theNewAccount();
        assert.strictEqual(cloud.one("aws:ec2/vpc:Vpc").name, "shared-vpc");
        const subnets = Object.fromEntries(cloud.ofType("aws:ec2/subnet:Subnet").map((subnet) => [subnet.inputs.availabilityZone, [subnet.name, subnet.inputs.cidrBlock]]));
        assert.deepStrictEqual(subnets, {
            "us-east-1a": ["shared-subnet-us-east-1a", "10.80.0.0/24"],
            "us-east-1b": ["shared-subnet-us-east-1b", "10.80.1.0/24"],
        });
        const subnetOf = (name: string) => cloud.ofType(INSTANCE).find((instance) => instance.name === `${name}-instance`)?.inputs.subnetId;
        assert.strictEqual(subnetOf("alice"), subnetOf("bob"));
        assert.notStrictEqual(subnetOf("alice"), subnetOf("carol"));
    });

    it("gives alice the password she set, as a secret nothing else holds, and the others generated ones", async () => {
        const { cloud, outputs, warnings } = await theNewAccount();
        const secrets = await unwrap(outputs.notebookSecrets);
        assert.strictEqual(secrets.alice.notebookPassword, ALICE_PASSWORD);
        assert.notStrictEqual(secrets.bob.notebookPassword, ALICE_PASSWORD);
        assert.deepStrictEqual(cloud.ofType("random:index/randomPassword:RandomPassword").map((password) => password.name).sort(), ["bob-password", "carol-password"]);
        const aliceUserData = userDataOf(cloud.ofType(INSTANCE).find((instance) => instance.name === "alice-instance") as RecordedResource);
        const hash = /sha256:[A-Za-z0-9]+:[0-9a-f]{64}/.exec(aliceUserData)?.[0];
        assert.ok(hash && jupyterPasswordMatches(hash, ALICE_PASSWORD), "alice's machine checks her password by its hash");
        const everywhere = JSON.stringify([cloud.resources.map((resource) => resource.inputs), await unwrap(outputs.notebooks), warnings]);
        assert.ok(!everywhere.includes(ALICE_PASSWORD), "her password is in no resource, public output or warning");
    });
});
