// npm run plan: what `pulumi up` would create, and with which settings, without an AWS account,
// the Pulumi CLI or a network. It runs the real program (index.ts) through the same mock engine the
// tests use; AWS lookups are answered offline with stand-ins, and the plan says which.
// Usage: npm run plan [-- --config-file Pulumi.<stack>.yaml]  (default: Pulumi.$GPU_NOTEBOOK_STACK.yaml, stack dev)
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";

import { DEEP_LEARNING_AMI_NAME } from "../components/aws-data";
import { IDLE_STOP_TAG } from "../components/boot";
import { CONFIG_NAMESPACE, DeployRefused } from "../components/config";
import { FleetOutputs } from "../components/fleet";
import { SSH_PORT } from "../components/network";
import { NotebookOutputs } from "../components/notebook";
import { Ec2Quota, ELASTIC_IP_QUOTA, vcpuQuotaFor } from "../components/preflight";
import { fakeVcpus, MockCloud, RecordedResource } from "../components/offline/mock-cloud";
import { ProgramRun, runOffline, unwrap } from "../components/offline/run-program";

import program = require("../index");

/** A documentation address (RFC 5737) standing in for the one `npm run up` detects. */
export const STAND_IN_CIDR = "192.0.2.1/32";
/** Stands in for a notebookPassword the stack file holds encrypted (the plan cannot decrypt it). */
const STAND_IN_PASSWORD = "offline-plan-stand-in-password";

export interface PlanOptions {
    /** Stack name shown in the plan. */
    stack: string;
    /** The stack's settings file, Pulumi.<stack>.yaml; missing means no settings. */
    configFile: string;
}

interface StackConfig {
    config: Record<string, string>;
    region: string;
    notes: string[];
}

/** Reads a Pulumi.<stack>.yaml as the CLI would hand it to the program: every value a string. */
export function readStackConfig(configFile: string): StackConfig {
    const notes: string[] = [];
    const document = existsSync(configFile) ? parse(readFileSync(configFile, "utf8")) ?? {} : {};
    const entries = Object.entries<unknown>(document.config ?? {});
    const config: Record<string, string> = {};
    let region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1";
    // A secret is `{secure: ...}` in place of its value, at the top or inside an object (a
    // notebook's own password in `notebooks`).
    const decrypted = (value: unknown, where: string): unknown => {
        if (typeof value !== "object" || value === null) {
            return value;
        }
        if ("secure" in value) {
            notes.push(`${where} is encrypted in ${path.basename(configFile)}; the plan uses a stand-in value`);
            return STAND_IN_PASSWORD;
        }
        return Array.isArray(value) ? value : Object.fromEntries(Object.entries(value).map(([key, item]) => [key, decrypted(item, `${where}.${key}`)]));
    };
    for (const [key, value] of entries) {
        if (key === "aws:region") {
            region = String(value);
        } else if (key.startsWith(`${CONFIG_NAMESPACE}:`)) {
            const plain = decrypted(value, key);
            config[key] = typeof plain === "string" ? plain : JSON.stringify(plain);
        }
    }
    const cidrs = config[`${CONFIG_NAMESPACE}:allowedCidrs`];
    if (cidrs === undefined || cidrs === "[]" || cidrs.trim() === "") {
        config[`${CONFIG_NAMESPACE}:allowedCidrs`] = JSON.stringify([STAND_IN_CIDR]);
        notes.push(`allowedCidrs is not set: \`npm run up\` sets it to your public address; the plan shows ${STAND_IN_CIDR} in its place`);
    }
    return { config: { ...config, "aws:region": region }, region, notes };
}

function table(rows: string[][]): string[] {
    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
    return rows.map((row) => `  ${row.map((cell, column) => cell.padEnd(widths[column])).join("  ")}`.trimEnd());
}

function shortType(type: string): string {
    if (type.startsWith("pulumi:providers:")) {
        return `provider ${type.slice("pulumi:providers:".length)}`;
    }
    const [provider, module] = type.split(":");
    const kind = type.split(":").pop() ?? type;
    return `${provider} ${module.split("/")[0]} ${kind}`;
}

/** One line on what a resource is, from its recorded inputs (never a secret value). */
function describe(resource: RecordedResource): string {
    const inputs = resource.inputs;
    switch (resource.type) {
        case "aws:ec2/instance:Instance": {
            const market = inputs.instanceMarketOptions ? "spot (persistent, stops on interruption)" : "on-demand";
            return `${inputs.instanceType}, ${market}, ${inputs.rootBlockDevice.volumeSize} GiB gp3 encrypted, IMDSv2 only`;
        }
        case "aws:ec2/eip:Eip":
            return "Elastic IP: same address across stop/start";
        case "aws:ec2/eipAssociation:EipAssociation":
            return "attaches the Elastic IP to the instance";
        case "aws:ec2/keyPair:KeyPair":
            return "SSH key pair (key generated by Pulumi, kept as a secret)";
        case "aws:ec2/securityGroup:SecurityGroup":
            return "firewall: only the rules below";
        case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
            return `in: tcp/${inputs.fromPort} from ${inputs.cidrIpv4 ?? inputs.cidrIpv6}`;
        case "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":
            return `out: all to ${inputs.cidrIpv4 ?? inputs.cidrIpv6}`;
        case "aws:ebs/volume:Volume":
            return `data volume for ~/notebooks: ${inputs.size} GiB gp3 encrypted in ${inputs.availabilityZone}` +
                (inputs.snapshotId ? `, from ${inputs.snapshotId}` : "") + (inputs.finalSnapshot ? ", final snapshot on destroy" : "");
        case "aws:ec2/volumeAttachment:VolumeAttachment":
            return "attaches the data volume to the instance";
        case "aws:servicequotas/serviceQuota:ServiceQuota":
            return `asks AWS to raise quota ${inputs.quotaCode} to ${inputs.value} vCPUs (AWS decides)`;
        case "aws:ec2transitgateway/instanceState:InstanceState":
            return `keeps the instance ${inputs.state}`;
        case "aws:cloudwatch/metricAlarm:MetricAlarm":
            return `stops the instance after ${(inputs.evaluationPeriods * inputs.period) / 60} min below ${inputs.threshold}% CPU`;
        case "aws:budgets/budget:Budget":
            return `$${inputs.limitAmount} a month, alerts to ${inputs.notifications[0].subscriberEmailAddresses.join(", ")}`;
        case "tls:index/privateKey:PrivateKey":
            return `${inputs.algorithm} key (secret)`;
        case "tls:index/selfSignedCert:SelfSignedCert":
            return `notebook certificate for the Elastic IP, ${Math.round(inputs.validityPeriodHours / 24 / 365)} years`;
        case "random:index/randomPassword:RandomPassword":
            return `notebook password, ${inputs.length} characters (secret)`;
        case "random:index/randomString:RandomString":
            return "salt for the password hash";
        case "pulumi:providers:aws":
            return `AWS in ${inputs.region}, only to read the Price List`;
        case "gpu-notebook:index:GpuNotebook":
            return "the notebook (groups everything below)";
        default:
            return "";
    }
}

function ofType(resources: RecordedResource[], type: string): RecordedResource[] {
    return resources.filter((resource) => resource.type === type);
}

/** The parts of a run the plan reads. */
interface PlanInput<Outputs> {
    run: ProgramRun<Outputs>;
    /** What `pulumi up` would create: every recorded resource but the stack. */
    resources: RecordedResource[];
    stackConfig: StackConfig;
}

/** The inbound rules of some resources, by port: `tcp/22 (SSH) from 198.51.100.7/32`. */
function accessLines(resources: RecordedResource[]): string[] {
    const ports = new Map<number, string[]>();
    for (const rule of ofType(resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")) {
        ports.set(rule.inputs.fromPort, [...(ports.get(rule.inputs.fromPort) ?? []), rule.inputs.cidrIpv4 ?? rule.inputs.cidrIpv6]);
    }
    return [...ports.entries()].map(([port, cidrs]) =>
        `tcp/${port} (${port === SSH_PORT ? "SSH" : "notebook, HTTPS"}) from ${cidrs.join(", ")}`);
}

function resourceTable(resources: RecordedResource[]): string[] {
    return table([["TYPE", "NAME", "WHAT"], ...resources.map((resource) => [shortType(resource.type), resource.name, describe(resource)])]);
}

/** A stack of one notebook: its settings, then every resource. */
async function singleSections({ run, resources, stackConfig }: PlanInput<NotebookOutputs>): Promise<string[]> {
    const instance = run.cloud.one("aws:ec2/instance:Instance").inputs;
    const get = (key: string) => stackConfig.config[`${CONFIG_NAMESPACE}:${key}`];
    const access = accessLines(resources);
    const idleMinutes = Number(instance.tags[IDLE_STOP_TAG]);
    const alarm = ofType(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")[0];
    const budget = ofType(resources, "aws:budgets/budget:Budget")[0];
    const state = ofType(resources, "aws:ec2transitgateway/instanceState:InstanceState")[0];
    const dataVolume = ofType(resources, "aws:ebs/volume:Volume")[0];
    const price = await unwrap(run.outputs.estimatedHourlyCostUsd);
    const spot = instance.instanceMarketOptions !== undefined;

    const settings: string[][] = [
        ["instance type", `${instance.instanceType}, ${spot ? "spot" : "on-demand"}`],
        ["AMI", get("amiId")
            ? `pinned ${get("amiId")}`
            : `latest "${DEEP_LEARNING_AMI_NAME}" by Amazon, looked up at deploy; never replaced by a newer one (offline stand-in: ${instance.ami})`],
        ["root disk", `${instance.rootBlockDevice.volumeSize} GiB gp3, encrypted` +
            (get("diskSizeGb") ? "" : ` (the AMI plus room for work; offline stand-in AMI of ${run.cloud.ami.rootSizeGb} GiB)`)],
        ["data volume", dataVolume
            ? `${dataVolume.inputs.size} GiB gp3, encrypted, at ~/notebooks; kept when the machine is replaced, snapshotted on destroy`
            : "none (dataVolumeGb = 0): notebooks live on the root disk and go with the machine"],
        ["zone", `${await unwrap(run.outputs.availabilityZone)} (offline stand-in zones; at deploy the first zone offering the type, then kept)`],
        ...access.map((line, index) => [index === 0 ? "access" : "", line]),
        ["idle stop", idleMinutes > 0
            ? `power off after ${idleMinutes} min without kernel, GPU or SSH activity` +
              (alarm ? `; backstop: stop after ${(alarm.inputs.evaluationPeriods * alarm.inputs.period) / 60} min below ${alarm.inputs.threshold}% CPU` : "")
            : "off (idleStopMinutes = 0): the machine runs until you stop it"],
        ["running", state?.inputs.state === "stopped" ? "no: stopped, disk and address kept (npm run start)" : "yes (npm run stop to stop it)"],
        ["spot", spot ? "yes: persistent request, stops on interruption" : "no (on-demand; spot: true is typically 60-70% cheaper)"],
        ["budget", budget
            ? `$${budget.inputs.limitAmount} a month for the account, emails at 80% and 100% actual and 100% forecast`
            : "none (set monthlyBudgetUsd and alertEmail for email alerts)"],
        ["hourly cost", price === undefined
            ? "unknown offline for this type and region; looked up from AWS's price data at deploy"
            : `$${price} for the instance (offline sample of AWS's ${spot ? "spot" : "list"} price in ${stackConfig.region}; looked up at deploy)`],
    ];
    return [
        "Settings",
        ...table(settings),
        "",
        `Resources \`pulumi up\` would create (${resources.length})`,
        ...resourceTable(resources),
    ];
}

// Resource internals the SDK does not type: a resource's logical name.
interface NamedResource { __name?: string }

/**
 * A stack with `notebooks`: one line per notebook, what they share, then one notebook's
 * resources as an example, so the plan stays readable for a class of fifty.
 */
async function fleetSections({ run, resources, stackConfig }: PlanInput<FleetOutputs>): Promise<string[]> {
    const notebooks = await unwrap(run.outputs.notebooks);
    const names = Object.keys(notebooks);
    // Each notebook's resources are its component's children: names alone can mislead (alice, alice-2).
    const owner = new Map(run.options.map((entry) => [`${entry.type} ${entry.name}`, (entry.opts.parent as NamedResource | undefined)?.__name]));
    const ownerOf = (resource: RecordedResource) => owner.get(`${resource.type} ${resource.name}`);
    const isNotebook = (resource: RecordedResource) => resource.type === "gpu-notebook:index:GpuNotebook" && names.includes(resource.name);
    const of = (name: string) => resources.filter((resource) => ownerOf(resource) === name || (isNotebook(resource) && resource.name === name));
    const shared = resources.filter((resource) => !isNotebook(resource) && !names.includes(ownerOf(resource) ?? ""));

    const rows = names.map((name) => {
        const own = of(name);
        const instance = ofType(own, "aws:ec2/instance:Instance")[0].inputs;
        const dataVolume = ofType(own, "aws:ebs/volume:Volume")[0];
        const rules = ofType(own, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
        const networks = new Set(rules.map((rule) => rule.inputs.cidrIpv4 ?? rule.inputs.cidrIpv6));
        const ports = [...new Set(rules.map((rule) => rule.inputs.fromPort))].join(",");
        const idle = Number(instance.tags[IDLE_STOP_TAG]);
        const price = notebooks[name].estimatedHourlyCostUsd;
        return [
            name,
            instance.instanceType,
            instance.instanceMarketOptions ? "spot" : "on-demand",
            notebooks[name].availabilityZone,
            String(instance.rootBlockDevice.volumeSize),
            dataVolume ? String(dataVolume.inputs.size) : "none",
            `tcp ${ports} from ${networks.size === 1 ? [...networks][0] : `${networks.size} networks`}`,
            idle > 0 ? `${idle} min` : "off",
            ofType(own, "aws:ec2transitgateway/instanceState:InstanceState")[0]?.inputs.state ?? "",
            price === undefined ? "unknown" : price.toFixed(3),
        ];
    });
    const total = await unwrap(run.outputs.estimatedHourlyCostUsd);
    const vcpus = new Map<string, { quota: Ec2Quota; count: number }>();
    for (const instance of ofType(resources, "aws:ec2/instance:Instance")) {
        const { instanceType, instanceMarketOptions } = instance.inputs;
        const quota = vcpuQuotaFor(instanceType, instanceMarketOptions ? "spot" : "on-demand");
        vcpus.set(quota.code, { quota, count: (vcpus.get(quota.code)?.count ?? 0) + fakeVcpus(instanceType) });
    }
    const addresses = ofType(resources, "aws:ec2/eip:Eip").length;
    const [example] = names;
    const exampleResources = of(example);
    return [
        `Notebooks (${names.length}): root and data disks in GiB, encrypted gp3; prices are offline samples of AWS's, looked up at deploy`,
        ...table([
            ["NAME", "TYPE", "MARKET", "ZONE", "ROOT", "DATA", "ACCESS", "IDLE STOP", "STATE", "$/HOUR"],
            ...rows,
            ["all", "", "", "", "", "", "", "", "", total === undefined ? "unknown" : total.toFixed(3)],
        ]),
        "",
        "Quotas the account needs (unknown offline; `npm run up` checks them before it creates anything)",
        ...[...vcpus.values()].map(({ quota, count }) => `  ${count} vCPUs of "${quota.name}" (${quota.code})`),
        `  ${addresses} Elastic IPs of "${ELASTIC_IP_QUOTA.name}" (${ELASTIC_IP_QUOTA.code}), besides those the account holds; AWS allows 5 unless raised`,
        `  A new account has less: set ${CONFIG_NAMESPACE}:requestQuotaIncrease to true and \`npm run up\` asks AWS, or ask in the Service Quotas console.`,
        "",
        `Shared by the notebooks (${shared.length})`,
        ...(shared.length > 0 ? resourceTable(shared) : ["  nothing: each notebook stands alone"]),
        "",
        `Each notebook's resources: ${example}'s, ${exampleResources.length} of the ${resources.length} \`pulumi up\` would create`,
        ...resourceTable(exampleResources),
    ];
}

/** Runs the program offline and renders the plan as text. Throws what the program throws. */
export async function planReport(options: PlanOptions): Promise<string> {
    const stackConfig = readStackConfig(options.configFile);
    const cloud = new MockCloud();
    cloud.region = stackConfig.region;
    if (stackConfig.config[`${CONFIG_NAMESPACE}:notebooks`]) {
        // The account's quotas are unknown offline, and a class's needs exceed a new account's at
        // once: the plan shows what the class would create, and what quotas it needs, instead of
        // the refusal a stand-in new account would give.
        cloud.world.quotas = Object.fromEntries(Object.keys(cloud.world.quotas).map((code) => [code, Number.MAX_SAFE_INTEGER]));
    }
    const run = await runOffline(program, stackConfig.config, cloud);
    const resources = run.cloud.resources.filter((resource) => resource.type !== "pulumi:pulumi:Stack");
    const input = { run, resources, stackConfig };
    const sections = "notebooks" in run.outputs
        ? await fleetSections(input as PlanInput<FleetOutputs>)
        : await singleSections(input as PlanInput<NotebookOutputs>);
    const warnings = [...stackConfig.notes, ...run.warnings];
    return [
        `gpu-notebook plan for stack "${options.stack}" in ${stackConfig.region}`,
        "Offline: the program ran under Pulumi's mock engine (no AWS account, no Pulumi CLI, no network);",
        "AWS lookups were answered with stand-ins, marked as such.",
        "",
        ...sections,
        "",
        warnings.length > 0 ? "Warnings" : "Warnings: none",
        ...warnings.map((warning) => `  - ${warning}`),
        "",
    ].join("\n");
}

async function main(argv: string[]): Promise<number> {
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log(readFileSync(__filename, "utf8").split("\n").slice(0, 4).map((line) => line.replace(/^\/\/ ?/, "")).join("\n"));
        return 0;
    }
    // The SDK records a stack trace for every resource and every promise it makes, and ts-node
    // maps each through source maps; nothing reads them offline, and for a class of fifty they
    // take most of the run. A refusal is printed by its message, which needs no stack.
    Error.stackTraceLimit = 0;
    const stack = process.env.GPU_NOTEBOOK_STACK ?? "dev";
    const flag = argv.indexOf("--config-file");
    const configFile = flag >= 0 ? argv[flag + 1] : path.join(__dirname, "..", `Pulumi.${stack}.yaml`);
    try {
        process.stdout.write(await planReport({ stack, configFile }));
        return 0;
    } catch (error) {
        if (error instanceof DeployRefused) {
            console.error(error.message);
            return 1;
        }
        throw error;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code), (error) => {
        console.error(error);
        process.exit(1);
    });
}
