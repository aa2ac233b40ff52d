// npm run plan: what `pulumi up` would create, and with which settings, without an AWS account,
// the Pulumi CLI or a network. It runs the real program (index.ts) through the same mock engine the
// tests use; AWS lookups are answered offline with stand-ins, and the plan says which.
// Usage: npm run plan [-- --config-file Pulumi.<stack>.yaml]  (default: Pulumi.$GPU_NOTEBOOK_STACK.yaml, stack dev)
import { readFileSync } from "fs";
import * as path from "path";

import { DEEP_LEARNING_AMI_NAME, gpuSummary, INVOKE_TOKENS } from "../components/aws-data";
import { IDLE_STOP_TAG, INSTANCE_PATHS } from "../components/boot";
import { idleActivity } from "../components/contract";
import { unpackBundle } from "../components/bundle";
import { CONFIG_NAMESPACE, DeployRefused, NotebookSettings, parseStackConfig } from "../components/config";
import { FleetOutputs } from "../components/fleet";
import { SSH_PORT } from "../components/network";
import { NotebookOutputs } from "../components/notebook";
import { FAKE_ACCOUNT, fakeTypeInfo, fakeVcpus, MockCloud, RecordedCall, RecordedResource, SAMPLE_PRICES } from "../components/offline/mock-cloud";
import { ProgramRun, RecordedOptions, runOffline, unwrap } from "../components/offline/run-program";
import { Ec2Quota, ELASTIC_IP_QUOTA, marketsOf, vcpuQuotaFor } from "../components/preflight";
import { SPOT_SAVING_PHRASE } from "../components/spot";
import { PlanInputError, readStackConfig, StackFileConfig, stackNameFor } from "./stack-file";

import program = require("../index");

export interface PlanOptions {
    /** Stack name shown in the plan. */
    stack: string;
    /** The stack's settings file, Pulumi.<stack>.yaml; missing means no settings. */
    configFile: string;
}

function table(rows: string[][]): string[] {
    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
    return rows.map((row) => `  ${row.map((cell, column) => cell.padEnd(widths[column])).join("  ")}`.trimEnd());
}

/** Types whose provider name says nothing to a user (an instance's power state lives under transit gateways). */
const TYPES_IN_WORDS: Record<string, string> = { "aws:ec2transitgateway/instanceState:InstanceState": "aws ec2 instance state" };

function shortType(type: string): string {
    if (TYPES_IN_WORDS[type]) {
        return TYPES_IN_WORDS[type];
    }
    if (type.startsWith("pulumi:providers:")) {
        return `provider ${type.slice("pulumi:providers:".length)}`;
    }
    const [provider, module] = type.split(":");
    const kind = type.split(":").pop() ?? type;
    return `${provider} ${module.split("/")[0]} ${kind}`;
}

/** What the plan is read from: the program's recorded run, never fixed text about what it should do. */
export interface PlanRecord {
    resources: RecordedResource[];
    options: RecordedOptions[];
    calls: RecordedCall[];
}

function ofType(record: PlanRecord, type: string): RecordedResource[] {
    return record.resources.filter((resource) => resource.type === type);
}

/** The resource a recorded id belongs to, by name, or the id itself when none does. */
function nameOf(record: PlanRecord, type: string, id: string, field = "id"): string {
    return ofType(record, type).find((resource) => resource.computed[field] === id)?.name ?? id;
}

function disk(device: { volumeSize?: number; size?: number; volumeType?: string; type?: string; encrypted?: boolean }): string {
    return `${device.volumeSize ?? device.size} GiB ${device.volumeType ?? device.type}, ${device.encrypted ? "encrypted" : "NOT encrypted"}`;
}

/** What a spot request does, from its market options; undefined for on-demand. */
function spotTerms(instance: RecordedResource): string | undefined {
    const market = instance.inputs.instanceMarketOptions;
    if (market?.marketType !== "spot") {
        return undefined;
    }
    const behaviour: string = market.spotOptions?.instanceInterruptionBehavior ?? "terminate";
    return `${market.spotOptions?.spotInstanceType ?? "one-time"} request, ${behaviour}s on interruption`;
}

/** How long a metric-math alarm waits: its datapoints to alarm times their period. */
function backstopSpan(alarm: Record<string, any>): string { // any: provider inputs
    return `${(alarm.datapointsToAlarm * alarm.metricQueries[0].metric.period) / 60} min`;
}

/** An IAM statement in a few words: its action, on what, under which condition. */
function permission(statement: { Action: string; Resource: string; Condition?: Record<string, Record<string, string>> }): string {
    const conditions = Object.values(statement.Condition ?? {}).flatMap((condition) => Object.entries(condition).map(([key, value]) => `${key} = ${value}`));
    return `${statement.Action} on ${statement.Resource}${conditions.length > 0 ? ` where ${conditions.join(", ")}` : ""}`;
}

/** What the backstop alarm does, read from its inputs: the function it calls and after how long. */
function alarmLine(record: PlanRecord, alarm: RecordedResource): string {
    const actions: string[] = alarm.inputs.alarmActions ?? [];
    const called = actions.map((arn) => nameOf(record, "aws:lambda/function:Function", arn, "arn"));
    return `calls ${called.join(" and ") || "nothing"} after ${backstopSpan(alarm.inputs)} of running without a heartbeat of activity`;
}

const BUDGET_PERIODS: Record<string, string> = { DAILY: "day", MONTHLY: "month", QUARTERLY: "quarter", ANNUALLY: "year" };

/** "$40.00 a month" */
function budgetLimit(budget: RecordedResource): string {
    return `$${budget.inputs.limitAmount} a ${BUDGET_PERIODS[budget.inputs.timeUnit] ?? budget.inputs.timeUnit}`;
}

function budgetAlerts(budget: RecordedResource): string {
    const notifications: { notificationType: string; threshold: number }[] = budget.inputs.notifications;
    const kinds = ["ACTUAL", "FORECASTED"].map((kind) => {
        const thresholds = notifications.filter((n) => n.notificationType === kind).map((n) => `${n.threshold}%`);
        return thresholds.length > 0 ? `${thresholds.join(" and ")} ${kind === "ACTUAL" ? "actual" : "forecast"}` : "";
    });
    return kinds.filter((kind) => kind !== "").join(" and ");
}

/** Whether the resource's options keep these outputs secret in the state. */
function keptSecret(record: PlanRecord, resource: RecordedResource, ...outputs: string[]): boolean {
    const options = record.options.find((entry) => entry.type === resource.type && entry.name === resource.name);
    return outputs.every((output) => options?.opts.additionalSecretOutputs?.includes(output) ?? false);
}

/** One line on what a resource is, from its recorded inputs (never a secret value). */
export function describeResource(record: PlanRecord, resource: RecordedResource): string {
    const inputs = resource.inputs;
    const secret = (...outputs: string[]) => keptSecret(record, resource, ...outputs) ? "secret" : "NOT secret";
    switch (resource.type) {
        case "aws:ec2/instance:Instance": {
            const imds = inputs.metadataOptions?.httpTokens === "required" ? "IMDSv2 only" : "IMDSv1 allowed";
            const market = spotTerms(resource);
            return `${inputs.instanceType}, ${market ? `spot (${market})` : "on-demand"}, ${disk(inputs.rootBlockDevice)}, ${imds}`;
        }
        case "aws:ec2/eip:Eip":
            return "Elastic IP: same address across stop/start";
        case "aws:ec2/eipAssociation:EipAssociation":
            return `attaches ${nameOf(record, "aws:ec2/eip:Eip", inputs.allocationId, "allocationId")} to ` +
                `${nameOf(record, "aws:ec2/instance:Instance", inputs.instanceId)}`;
        case "aws:ec2/keyPair:KeyPair": {
            const key = ofType(record, "tls:index/privateKey:PrivateKey").find((candidate) => candidate.computed.publicKeyOpenssh === inputs.publicKey);
            return key
                ? `SSH key pair of ${key.name} (generated by Pulumi, its private half ${keptSecret(record, key, "privateKeyOpenssh") ? "secret" : "NOT secret"})`
                : "SSH key pair of a key made elsewhere";
        }
        case "aws:ec2/securityGroup:SecurityGroup":
            return inputs.ingress?.length
                ? `firewall with ${inputs.ingress.length} inline rule${inputs.ingress.length === 1 ? "" : "s"} and the rules below`
                : "firewall: only the rules below";
        case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
            return `in: ${inputs.ipProtocol}/${inputs.fromPort} from ${inputs.cidrIpv4 ?? inputs.cidrIpv6}`;
        case "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":
            return `out: ${inputs.ipProtocol === "-1" ? "all" : inputs.ipProtocol} to ${inputs.cidrIpv4 ?? inputs.cidrIpv6}`;
        case "aws:ebs/volume:Volume":
            return `data volume: ${disk(inputs)}, in ${inputs.availabilityZone}` +
                (inputs.snapshotId ? `, from ${inputs.snapshotId}` : "") + (inputs.finalSnapshot ? ", final snapshot on destroy" : ", NO snapshot on destroy");
        case "aws:ec2/volumeAttachment:VolumeAttachment":
            return `attaches ${nameOf(record, "aws:ebs/volume:Volume", inputs.volumeId)} to ${nameOf(record, "aws:ec2/instance:Instance", inputs.instanceId)}` +
                (inputs.stopInstanceBeforeDetaching ? ", stopping it before a detach" : "");
        case "aws:servicequotas/serviceQuota:ServiceQuota":
            return `asks AWS to raise quota ${inputs.quotaCode} to ${inputs.value} vCPUs (AWS decides)`;
        case "aws:ec2transitgateway/instanceState:InstanceState":
            return `instance state: ${inputs.state} (keeps ${nameOf(record, "aws:ec2/instance:Instance", inputs.instanceId)} ${inputs.state})`;
        case "aws:cloudwatch/metricAlarm:MetricAlarm":
            return `backstop: ${alarmLine(record, resource)}`;
        case "aws:lambda/function:Function":
            return `the backstop's action: stops instance ${inputs.environment.variables.INSTANCE_ID} (${inputs.runtime})`;
        case "aws:lambda/permission:Permission":
            return `lets ${inputs.principal} invoke the backstop's function`;
        case "aws:iam/role:Role":
            return `role for ${JSON.parse(inputs.assumeRolePolicy).Statement.map((statement: { Principal: { Service: string } }) => statement.Principal.Service).join(", ")}`;
        case "aws:iam/rolePolicy:RolePolicy":
            return `allows only ${JSON.parse(inputs.policy).Statement.map(permission).join("; ")}`;
        case "aws:iam/instanceProfile:InstanceProfile":
            return "puts the role on the instance";
        case "aws:budgets/budget:Budget":
            return `${budgetLimit(resource)}, alerts to ${inputs.notifications[0]?.subscriberEmailAddresses.join(", ")} at ${budgetAlerts(resource)}`;
        case "tls:index/privateKey:PrivateKey":
            return `${inputs.algorithm} key (${secret("privateKeyPem")})`;
        case "tls:index/selfSignedCert:SelfSignedCert":
            return `notebook certificate for ${[...inputs.ipAddresses, ...inputs.dnsNames].join(", ")}, ` +
                `${Math.round(inputs.validityPeriodHours / 24 / 365)} years`;
        case "random:index/randomPassword:RandomPassword":
            return `notebook password, ${inputs.length} characters (${secret("result")})`;
        case "random:index/randomString:RandomString":
            return "salt for the password hash";
        case "pulumi:providers:aws": {
            const used = [...new Set(record.calls.filter((call) => call.provider?.includes(`::${resource.name}::`))
                .map((call) => call.token.split(":").pop()))];
            return `AWS in ${inputs.region}, ${used.length > 0 ? `only for ${used.join(", ")}` : "unused"}`;
        }
        case "gpu-notebook:index:GpuNotebook":
            return "the notebook (groups everything below)";
        default:
            return "";
    }
}

/** What index.ts's run set up, and the stack config it ran with: the facts the settings table prints. */
export interface PlanFacts {
    record: PlanRecord;
    /** A value of the stack's config, by key without the namespace. */
    config: (key: string) => string | undefined;
    region: string;
    zone: string;
    price: number | undefined;
    /** Root size of the offline stand-in AMI. */
    standInAmiGb: number;
}

/** The top folders the user's packages and caches go to: "/home/u/notebooks/.local, .cache, …". */
function packageFolders(paths: string[], notebookDir: string | undefined): string {
    const below = notebookDir ? paths.filter((where) => where.startsWith(`${notebookDir}/`)) : [];
    if (!notebookDir || below.length !== paths.length) {
        return paths.join(", ");
    }
    const tops = [...new Set(below.map((where) => where.slice(notebookDir.length + 1).split("/")[0]))];
    return `${notebookDir}/${tops.join(", ")}`;
}

/** The settings table, every fact read from the recorded run. */
export function settingsRows(facts: PlanFacts): string[][] {
    const { record, config } = facts;
    const instance = ofType(record, "aws:ec2/instance:Instance")[0];
    const inputs = instance.inputs;
    const instanceOptions = record.options.find((entry) => entry.type === instance.type && entry.name === instance.name)?.opts;
    const ports = new Map<number, string[]>();
    for (const rule of ofType(record, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")) {
        ports.set(rule.inputs.fromPort, [...(ports.get(rule.inputs.fromPort) ?? []), rule.inputs.cidrIpv4 ?? rule.inputs.cidrIpv6]);
    }
    const access = [...ports.entries()].map(([port, cidrs]) =>
        `tcp/${port} (${port === SSH_PORT ? "SSH" : "notebook, HTTPS"}) from ${cidrs.join(", ")}`);
    const idleMinutes = Number(inputs.tags[IDLE_STOP_TAG]);
    const [alarm] = ofType(record, "aws:cloudwatch/metricAlarm:MetricAlarm");
    const [budget] = ofType(record, "aws:budgets/budget:Budget");
    const [state] = ofType(record, "aws:ec2transitgateway/instanceState:InstanceState");
    const [dataVolume] = ofType(record, "aws:ebs/volume:Volume");
    // The machine's setup commands, from the machine file in its boot bundle.
    const [bundle] = ofType(record, "aws:s3/bucketObjectv2:BucketObjectv2");
    const machineFile = unpackBundle(Buffer.from(bundle.inputs.contentBase64, "base64"))
        .find((file) => file.path === INSTANCE_PATHS.machineFile);
    const machine = JSON.parse(machineFile?.content ?? "{}");
    const mount = (machine.setup as string[][] | undefined ?? []).find((command) => command[0] === INSTANCE_PATHS.mountScript);
    // Where the machine points the user's packages and caches, and the setup file it runs.
    const environment = Object.entries(machine.notebook?.environment as Record<string, string> | undefined ?? {});
    const setupRuns = (machine.setup as string[][] | undefined ?? []).some((command) => command[0] === INSTANCE_PATHS.setupProgram)
        ? `; ${String(machine.notebook?.setupFile).replace(/^\/home\/[^/]+\//, "~/")} runs once on each new machine` : "";
    const attached = dataVolume && ofType(record, "aws:ec2/volumeAttachment:VolumeAttachment")
        .some((attachment) => attachment.inputs.volumeId === dataVolume.computed.id && attachment.inputs.instanceId === instance.computed.id);
    const keptAmi = instanceOptions?.ignoreChanges?.includes("ami");
    const spot = spotTerms(instance);
    return [
        ["instance type", `${inputs.instanceType}, ${spot ? "spot" : "on-demand"}`],
        ["AMI", (config("amiId") ? `pinned ${config("amiId")}` : `latest "${DEEP_LEARNING_AMI_NAME}" by Amazon, looked up at deploy`) +
            (keptAmi ? "; never replaced by a newer one" : "; a newer one REPLACES the machine") +
            ` (offline stand-in: ${inputs.ami})`],
        ["root disk", disk(inputs.rootBlockDevice) +
            (config("diskSizeGb") ? "" : ` (the AMI plus room for work; offline stand-in AMI of ${facts.standInAmiGb} GiB)`)],
        ["data volume", dataVolume
            ? `${disk(dataVolume.inputs)}, at ${mount?.[2] ?? "no mount point (NOT mounted)"}; ` +
              (attached ? "a volume of its own, kept when the machine is replaced" : "NOT attached to the machine") +
              (dataVolume.inputs.finalSnapshot ? ", snapshotted on destroy" : ", NOT snapshotted on destroy")
            : "none (dataVolumeGb = 0): notebooks live on the root disk and go with the machine"],
        ["packages", (environment.length > 0
            ? `on the data volume, kept when the machine is replaced: ${packageFolders(environment.map(([, where]) => where), mount?.[2])}`
            : "on the root disk (dataVolumeGb = 0): pip, conda, caches and kernels go with the machine") + setupRuns],
        ["zone", `${facts.zone} (offline stand-in zones; at deploy the first zone offering the type, then kept)`],
        ...access.map((line, index) => [index === 0 ? "access" : "", line]),
        ["idle stop", idleMinutes > 0
            ? `power off after ${idleMinutes} min with none of: ${idleActivity()}` +
              (alarm ? `; backstop: ${alarmLine(record, alarm)}` : "")
            : "off (idleStopMinutes = 0): the machine runs until you stop it"],
        ["running", state?.inputs.state === "stopped" ? "no: stopped, disk and address kept (npm run start)" : "yes (npm run stop to stop it)"],
        ["spot", spot ? `yes: ${spot}` : `no (on-demand; spot: true is ${SPOT_SAVING_PHRASE})`],
        ["budget", budget
            ? `${budgetLimit(budget)} for the account, emails at ${budgetAlerts(budget)}`
            : "none (set monthlyBudgetUsd and alertEmail for email alerts)"],
        ["hourly cost", facts.price === undefined
            ? `unknown offline: the offline price sample has no ${spot ? "spot" : "list"} price for ${inputs.instanceType} in ${facts.region}; looked up from AWS's price data at deploy`
            : `$${facts.price} for the instance (offline sample of AWS's ${spot ? "spot" : "list"} price in ${facts.region}; looked up at deploy)`],
    ];
}

/**
 * Values the mock engine made up where AWS will give real ones: the account, and each resource's
 * id and address as the recorded run computed them. A line that shows one says so.
 */
function standIns(record: PlanRecord): [string, string][] {
    const computed = (type: string, field: string, kind: string) =>
        ofType(record, type).map((resource): [string, string] => [String(resource.computed[field]), kind]);
    return [
        [FAKE_ACCOUNT, "account"],
        ...computed("aws:ec2/instance:Instance", "id", "instance id"),
        ...computed("aws:ec2/eip:Eip", "publicIp", "address"),
    ];
}

/** A resource's line, with the stand-in values it shows named as such. */
function describedWithStandIns(record: PlanRecord, resource: RecordedResource): string {
    const text = describeResource(record, resource);
    const shown = [...new Set(standIns(record).filter(([value]) => text.includes(value)).map(([, kind]) => kind))];
    return shown.length > 0 ? `${text} (offline stand-in ${shown.join(" and ")})` : text;
}

function resourceTable(record: PlanRecord, resources: RecordedResource[]): string[] {
    return table([["TYPE", "NAME", "WHAT"], ...resources.map((resource) => [shortType(resource.type), resource.name, describedWithStandIns(record, resource)])]);
}

/** What the plan reads of a run: its record, outputs and offline stand-ins, and the stack's config. */
interface PlanInput<Outputs> {
    run: ProgramRun<Outputs>;
    record: PlanRecord;
    stackConfig: StackFileConfig;
}

/**
 * The candidate types in the order a launch tries them, with what each has and costs: the offline
 * account's answers (its GPUs, memory, zones) and sample prices, as the deploy would look them up.
 */
export function candidateRows(settings: NotebookSettings, cloud: MockCloud, running: string): string[][] {
    const markets = marketsOf(settings);
    const zonesOf = (instanceType: string): string[] => cloud.invokes[INVOKE_TOKENS.getInstanceTypeOfferings]({
        locationType: "availability-zone", filters: [{ name: "instance-type", values: [instanceType] }],
    }).locations;
    const rows = settings.instanceTypes.flatMap((instanceType, index) => markets.map((market) => {
        const typeInfo = fakeTypeInfo(instanceType);
        const sample = SAMPLE_PRICES[cloud.region]?.[instanceType];
        const price = sample === undefined ? "unknown" : (market === "spot" ? sample.spot : sample.onDemand).toFixed(3);
        return [
            `${index + 1}${markets.length > 1 ? (market === "spot" ? "" : " (fallback)") : ""}`, instanceType, market, gpuSummary(typeInfo),
            `${Math.round(typeInfo.memoryMiB / 1024)} GiB`, `${typeInfo.vcpus}`, price, zonesOf(instanceType).join(" ") || "none",
            instanceType === running ? "<- this run's choice" : "",
        ];
    }));
    return [["#", "TYPE", "MARKET", "GPU", "MEMORY", "VCPUS", "$/HOUR", "ZONES (tried in this order)", ""], ...rows];
}

/** A stack of one notebook: its settings, then every resource. */
async function singleSections({ run, record, stackConfig }: PlanInput<NotebookOutputs>): Promise<string[]> {
    const settings = settingsRows({
        record,
        config: (key) => stackConfig.config[`${CONFIG_NAMESPACE}:${key}`],
        region: stackConfig.region,
        zone: await unwrap(run.outputs.availabilityZone),
        price: await unwrap(run.outputs.estimatedHourlyCostUsd),
        standInAmiGb: run.cloud.ami.rootSizeGb,
    });
    const parsed = parseStackConfig(stackConfig.config);
    const candidates = parsed.kind === "single"
        ? candidateRows(parsed.settings, run.cloud, ofType(record, "aws:ec2/instance:Instance")[0].inputs.instanceType)
        : [];
    return [
        "Settings",
        ...table(settings),
        "",
        "Candidates (instanceTypes): a new machine takes the first with a GPU free, zone by zone, then type by type " +
            "(offline stand-in GPUs and zones, sample prices)",
        ...table(candidates),
        "",
        `Resources \`pulumi up\` would create (${record.resources.length})`,
        ...resourceTable(record, record.resources),
    ];
}

/** A disk in a notebook's row: its size, and its type and encryption only when not the usual gp3, encrypted. */
function diskCell(device: { volumeSize?: number; size?: number; volumeType?: string; type?: string; encrypted?: boolean }): string {
    const type = device.volumeType ?? device.type;
    return `${device.volumeSize ?? device.size}${type === "gp3" ? "" : ` ${type}`}${device.encrypted ? "" : " NOT encrypted"}`;
}

// Resource internals the SDK does not type: a resource's logical name.
interface NamedResource { __name?: string }

/**
 * A stack with `notebooks`: one line per notebook, the quotas the class needs, what the notebooks
 * share, then one notebook's resources as an example, so the plan stays readable for fifty.
 */
async function fleetSections({ run, record, stackConfig }: PlanInput<FleetOutputs>): Promise<string[]> {
    const notebooks = await unwrap(run.outputs.notebooks);
    const names = Object.keys(notebooks);
    // A notebook's resources are its component's children; names alone can mislead (alice, alice-2).
    const owners = new Map(record.options.map((entry) => [`${entry.type} ${entry.name}`, (entry.opts.parent as NamedResource | undefined)?.__name]));
    const ownerOf = (resource: RecordedResource) => owners.get(`${resource.type} ${resource.name}`);
    const isNotebook = (resource: RecordedResource) => resource.type === "gpu-notebook:index:GpuNotebook" && names.includes(resource.name);
    const of = (name: string): PlanRecord => ({
        ...record, resources: record.resources.filter((resource) => ownerOf(resource) === name || (isNotebook(resource) && resource.name === name)),
    });
    const shared = record.resources.filter((resource) => !isNotebook(resource) && !names.includes(ownerOf(resource) ?? ""));

    const rows = names.map((name) => {
        const own = of(name);
        const [instance] = ofType(own, "aws:ec2/instance:Instance");
        const [dataVolume] = ofType(own, "aws:ebs/volume:Volume");
        const [state] = ofType(own, "aws:ec2transitgateway/instanceState:InstanceState");
        const rules = ofType(own, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
        const networks = new Set(rules.map((rule) => rule.inputs.cidrIpv4 ?? rule.inputs.cidrIpv6));
        const ports = [...new Set(rules.map((rule) => rule.inputs.fromPort))].join(",");
        const idle = Number(instance.inputs.tags[IDLE_STOP_TAG]);
        const price = notebooks[name].estimatedHourlyCostUsd;
        return [
            name,
            instance.inputs.instanceType,
            spotTerms(instance) ? "spot" : "on-demand",
            notebooks[name].availabilityZone,
            diskCell(instance.inputs.rootBlockDevice),
            dataVolume ? diskCell(dataVolume.inputs) : "none",
            `tcp ${ports} from ${networks.size === 1 ? [...networks][0] : `${networks.size} networks`}`,
            idle > 0 ? `${idle} min` : "off",
            state?.inputs.state ?? "",
            price === undefined ? "unknown" : price.toFixed(3),
        ];
    });
    const total = await unwrap(run.outputs.estimatedHourlyCostUsd);

    const vcpus = new Map<string, { quota: Ec2Quota; count: number }>();
    for (const instance of ofType(record, "aws:ec2/instance:Instance")) {
        const quota = vcpuQuotaFor(instance.inputs.instanceType, spotTerms(instance) ? "spot" : "on-demand");
        vcpus.set(quota.code, { quota, count: (vcpus.get(quota.code)?.count ?? 0) + fakeVcpus(instance.inputs.instanceType) });
    }
    const [example] = names;
    const exampleRecord = of(example);
    return [
        `Notebooks (${names.length}): disks in GiB, gp3 and encrypted unless marked; prices are offline samples of AWS's, looked up at deploy`,
        ...table([
            ["NAME", "TYPE", "MARKET", "ZONE", "ROOT", "DATA", "ACCESS", "IDLE STOP", "STATE", "$/HOUR"],
            ...rows,
            ["all", "", "", "", "", "", "", "", "", total === undefined ? "unknown" : total.toFixed(3)],
        ]),
        "",
        "Quotas the account needs (unknown offline; `npm run up` checks them before it creates anything)",
        ...[...vcpus.values()].map(({ quota, count }) => `  ${count} vCPUs of "${quota.name}" (${quota.code})`),
        `  ${ofType(record, "aws:ec2/eip:Eip").length} Elastic IPs of "${ELASTIC_IP_QUOTA.name}" (${ELASTIC_IP_QUOTA.code}), ` +
            "besides those the account holds; AWS allows 5 unless raised",
        `  A new account has less: set ${CONFIG_NAMESPACE}:requestQuotaIncrease to true and \`npm run up\` asks AWS, ` +
            "or ask in the Service Quotas console.",
        "",
        `Shared by the notebooks (${shared.length})`,
        ...(shared.length > 0 ? resourceTable(record, shared) : ["  nothing: each notebook stands alone"]),
        "",
        `Each notebook's resources: ${example}'s, ${exampleRecord.resources.length} of the ${record.resources.length} \`pulumi up\` would create`,
        ...resourceTable(record, exampleRecord.resources),
    ];
}

/** Runs the program offline and renders the plan as text. Throws what the program throws. */
export async function planReport(options: PlanOptions): Promise<string> {
    const stackConfig = readStackConfig(options.configFile, options.stack);
    const cloud = new MockCloud();
    cloud.region = stackConfig.region;
    if (stackConfig.config[`${CONFIG_NAMESPACE}:notebooks`]) {
        // The account's quotas are unknown offline, and a class needs more than a new account has
        // at once: the plan shows what the class would create and the quotas it needs, instead of
        // the refusal a stand-in new account would give.
        cloud.world.quotas = Object.fromEntries(Object.keys(cloud.world.quotas).map((code) => [code, Number.MAX_SAFE_INTEGER]));
    }
    const run = await runOffline(program, stackConfig.config, cloud);
    const resources = run.cloud.resources.filter((resource) => resource.type !== "pulumi:pulumi:Stack");
    const input = { run, record: { resources, options: run.options, calls: run.cloud.calls }, stackConfig };
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

export function planTarget(argv: string[], env: NodeJS.ProcessEnv = process.env): PlanOptions {
    const environment = env.GPU_NOTEBOOK_STACK || undefined;
    const unknown = argv.filter((arg, index) => arg !== "--config-file" && argv[index - 1] !== "--config-file");
    if (unknown.length > 0) {
        throw new PlanInputError([`unknown argument ${unknown[0]}; usage: npm run plan [-- --config-file Pulumi.<stack>.yaml]`]);
    }
    const flag = argv.indexOf("--config-file");
    if (flag < 0) {
        const stack = environment ?? "dev";
        return { stack, configFile: path.join(__dirname, "..", `Pulumi.${stack}.yaml`) };
    }
    const value = argv[flag + 1];
    if (value === undefined || value.startsWith("-")) {
        throw new PlanInputError(["--config-file needs a file: npm run plan -- --config-file Pulumi.<stack>.yaml"]);
    }
    // npm runs scripts in the project folder; a relative path is relative to where the user typed it.
    const configFile = path.resolve(env.INIT_CWD ?? process.cwd(), value);
    return { stack: stackNameFor(configFile, environment), configFile };
}

async function main(argv: string[]): Promise<number> {
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log(readFileSync(__filename, "utf8").split("\n").slice(0, 4).map((line) => line.replace(/^\/\/ ?/, "")).join("\n"));
        return 0;
    }
    // The SDK records a stack trace for every resource and every promise it makes; nothing reads
    // them offline, and for a class of fifty they take most of the run. A refusal is printed by
    // its message, which needs no stack.
    Error.stackTraceLimit = 0;
    try {
        process.stdout.write(await planReport(planTarget(argv)));
        return 0;
    } catch (error) {
        if (error instanceof DeployRefused) {
            console.error(error.message);
            return 1;
        }
        if (error instanceof PlanInputError) {
            console.error(error.lines.map((line) => `gpu-notebook plan: ${line}`).join("\n"));
            return 2;
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
