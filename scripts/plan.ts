// npm run plan: what `pulumi up` would create, and with which settings, without an AWS account,
// the Pulumi CLI or a network. It runs the real program (index.ts) through the same mock engine the
// tests use; AWS lookups are answered offline with stand-ins, and the plan says which. It ends
// with what the notebook costs: running, an hour; stopped, a month; and a month at your usage.
// Usage: npm run plan [-- --config-file Pulumi.<stack>.yaml] [--hours-per-week HOURS]  (or --NAME=VALUE)
//   --config-file      default Pulumi.$GPU_NOTEBOOK_STACK.yaml (stack dev) of this project; a relative
//                      FILE is relative to the folder you run the command in
//   --hours-per-week   the usage a month's cost is shown at, 0 to 168; default 20 (4 h a day on weekdays)
import { readFileSync } from "fs";
import * as path from "path";

import { DEEP_LEARNING_AMI_NAME, gpuSummary, INVOKE_TOKENS } from "../components/aws-data";
import { Candidate, candidateOrder } from "../components/capacity";
import { IDLE_STOP_TAG, INSTANCE_PATHS } from "../components/boot";
import { idleActivity } from "../components/contract";
import { unpackBundle } from "../components/bundle";
import { CONFIG_NAMESPACE, DeployRefused, inWords, Market, NotebookSettings, parseStackConfig } from "../components/config";
import { FleetOutputs } from "../components/fleet";
import { SSH_PORT } from "../components/network";
import { NotebookOutputs } from "../components/notebook";
import { UnattendedFile } from "../components/notify";
import {
    FAKE_ACCOUNT, fakeTypeInfo, fakeVcpus, MockCloud, OFFLINE_PRICE_GAP, RecordedCall, RecordedResource, REGION_ZONES, SAMPLE_PRICES,
    SAMPLE_STORAGE_PRICES,
} from "../components/offline/mock-cloud";
import { ProgramRun, RecordedOptions, runOffline, unwrap } from "../components/offline/run-program";
import { Ec2Quota, ELASTIC_IP_QUOTA, marketsOf, vcpuQuotaFor } from "../components/preflight";
import { DEFAULT_HOURS_PER_WEEK, HOURS_PER_WEEK, notebookCosts, usd } from "../components/pricing";
import { SPOT_SAVING_PHRASE } from "../components/spot";
import { fitLine, fitText, table, WIDTH } from "./plan-layout";
import { PlanInputError, readStackConfig, StackFileConfig, stackNameFor } from "./lib/stack-file";

import program = require("../index");


export interface PlanOptions {
    /** Stack name shown in the plan. */
    stack: string;
    /** The stack's settings file, Pulumi.<stack>.yaml. */
    configFile: string;
    /** The usage a month's cost is shown at. Default DEFAULT_HOURS_PER_WEEK. */
    hoursPerWeek?: number;
    /** Where the user's AWS setup (its region) is read from. Default process.env. */
    env?: NodeJS.ProcessEnv;
    /** The widest line. Default WIDTH, a terminal's; tests of what the plan says, not of its layout, give Infinity. */
    width?: number;
    /** True when no --config-file named it: then a missing file means no settings. */
    defaultFile?: boolean;
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
function permission(
    statement: { Action: string; Resource: string; Condition?: Record<string, Record<string, string>> }, record?: PlanRecord,
): string {
    const conditions = Object.values(statement.Condition ?? {}).flatMap((condition) => Object.entries(condition).map(([key, value]) => `${key} = ${value}`));
    return `${statement.Action} on ${record ? shortArn(record, statement.Resource) : statement.Resource}` +
        `${conditions.length > 0 ? ` where ${conditions.join(", ")}` : ""}`;
}

/**
 * A topic's or a parameter's ARN as the name of the resource of this run it is (`topic
 * notebook-notify`): their ARNs are longer than a line. Any other ARN as it is.
 */
function shortArn(record: PlanRecord, arn: string): string {
    const kinds: [string, string][] = [["aws:sns/topic:Topic", "topic"], ["aws:ssm/parameter:Parameter", "parameter"]];
    for (const [type, kind] of kinds) {
        const found = ofType(record, type).find((resource) => resource.computed.arn === arn);
        if (found) {
            return `${kind} ${found.name}`;
        }
    }
    return arn;
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
            return `allows only ${JSON.parse(inputs.policy).Statement.map((statement: Parameters<typeof permission>[0]) => permission(statement, record)).join("; ")}`;
        case "aws:iam/instanceProfile:InstanceProfile":
            return "puts the role on the instance";
        case "aws:budgets/budget:Budget":
            return `${budgetLimit(resource)}, alerts to ${inputs.notifications[0]?.subscriberEmailAddresses.join(", ")} at ${budgetAlerts(resource)}`;
        case "aws:sns/topic:Topic":
            return `notifications' topic "${inputs.displayName}"`;
        case "aws:sns/topicSubscription:TopicSubscription":
            return `${inputs.protocol} to ${inputs.endpoint}` + (inputs.protocol === "email" ? " (AWS mails a confirmation first)" : "");
        case "aws:sns/topicPolicy:TopicPolicy":
            return `lets ${JSON.parse(inputs.policy).Statement.map((statement: { Principal: { Service: string } }) => statement.Principal.Service).join(", ")} ` +
                "of this account publish to the topic";
        case "aws:ssm/parameter:Parameter":
            // A SecureString's value is a secret: named by where it is, never shown.
            return inputs.type === "SecureString" ? `${inputs.name}: SecureString (secret)` : `${inputs.name}: ${inputs.type}, the machine's to write`;
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
    const machine = machineFileOf(record);
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
        ["zone", REGION_ZONES[facts.region]
            ? `${facts.zone} (the first zone offering the type, by name, then kept; which zones offer it is an offline stand-in)`
            : `${facts.zone} (an offline stand-in: the offline engine does not know the zones of ${facts.region})`],
        ...access.map((line, index) => [index === 0 ? "access" : "", line]),
        ["idle stop", idleMinutes > 0
            ? `power off after ${idleMinutes} min with none of: ${idleActivity()}` +
              (alarm ? `; backstop: ${alarmLine(record, alarm)}` : "")
            : "off (idleStopMinutes = 0): the machine runs until you stop it"],
        ["running", state?.inputs.state === "stopped" ? "no: stopped, disk and address kept (npm run start)" : "yes (npm run stop to stop it)"],
        ["spot", spot ? `yes: ${spot}` : `no (on-demand; spot: true is ${SPOT_SAVING_PHRASE})`],
        ["budget", budget
            ? `${budgetLimit(budget)} for the account, emails at ${budgetAlerts(budget)}` +
              (budget.inputs.notifications[0]?.subscriberSnsTopicArns ? ", and to the notifications' topic" : "")
            : "none (set monthlyBudgetUsd and alertEmail for email alerts)"],
        ...unattendedRows(record),
    ];
}

/** The machine file (machine.json) in the run's boot bundle, as the machine reads it. */
// any: the machine file is JSON whose shape boot.ts renders
function machineFileOf(record: PlanRecord): any {
    const [bundle] = ofType(record, "aws:s3/bucketObjectv2:BucketObjectv2");
    const machineFile = unpackBundle(Buffer.from(bundle.inputs.contentBase64, "base64"))
        .find((file) => file.path === INSTANCE_PATHS.machineFile);
    return JSON.parse(machineFile?.content ?? "{}");
}

/**
 * What running unattended does, read from what the machine is told (machine.json's `unattended`)
 * and the topic's subscription: where notifications go and on which events, when a silent job
 * stops keeping the machine up, and what a stop gives the jobs.
 */
export function unattendedRows(record: PlanRecord): string[][] {
    const unattended = machineFileOf(record).unattended as UnattendedFile;
    const [subscription] = ofType(record, "aws:sns/topicSubscription:TopicSubscription");
    const [instance] = ofType(record, "aws:ec2/instance:Instance");
    const { notify, jobStallMinutes, jobStopGraceSeconds, hookTimeoutSeconds, spotDeadlineSeconds } = unattended;
    const where = [
        ...(subscription ? [`${subscription.inputs.endpoint} by email (AWS sends a confirmation mail first: nothing arrives until it is confirmed)`] : []),
        ...(notify?.webhookParameter ? [`a webhook (a secret, kept in the SSM SecureString ${notify.webhookParameter})`] : []),
    ];
    return [
        ["notifications", notify && where.length > 0
            ? `to ${inWords(where)}; on ${notify.events.join(", ")}`
            : "none (set notifyEmail or notifyWebhook; npm run notify-test tries them)"],
        ["stalled jobs", jobStallMinutes > 0
            ? `a job with no new output, no CPU and no GPU use for ${jobStallMinutes} min no longer keeps the machine up (it is not killed)`
            : "never (jobStallMinutes: 0): a job keeps the machine up forever, even a hung one"],
        ["at a stop", `each job gets SIGTERM, then SIGKILL after ${jobStopGraceSeconds} s; then your on-stop hook, ` +
            `if any (at most ${hookTimeoutSeconds} s); then the notification` +
            (spotTerms(instance) ? `; on a spot interruption all of it within ${spotDeadlineSeconds} s of EC2's notice` : "")],
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

/** The resources, one a row: its name, then its type and what it is, which wrap beside the name. */
function resourceTable(record: PlanRecord, resources: RecordedResource[], width: number): string[] {
    return table([["NAME", "TYPE: WHAT"], ...resources.map((resource) => {
        const what = describedWithStandIns(record, resource);
        return [resource.name, `${shortType(resource.type)}${what === "" ? "" : `: ${what}`}`];
    })], width);
}

/** What the plan reads of a run: its record, outputs and offline stand-ins, and the stack's config. */
interface PlanInput<Outputs> {
    run: ProgramRun<Outputs>;
    record: PlanRecord;
    stackConfig: StackFileConfig;
    hoursPerWeek: number;
    /** The widest line (plan-layout.ts). */
    width: number;
}

/** The price of a type on a market in the offline sample, if it has one. */
function samplePrice(region: string, instanceType: string, market: Market): number | undefined {
    const sample = SAMPLE_PRICES[region]?.[instanceType];
    return sample && (market === "spot" ? sample.spot : sample.onDemand);
}

/**
 * The candidates in the order a new machine tries them (capacity.ts candidateOrder, as preflight
 * calls it: every spot candidate before any on-demand one), a row per type and market with the
 * zones in the order tried, and the row of this run's choice marked "→", the only one. Each row
 * has what the offline account says the type has, and its sample price where the sample has one.
 */
export function candidateRows(settings: NotebookSettings, cloud: MockCloud, chosen: Omit<Candidate, "zone">): string[][] {
    const zonesOf = (instanceType: string): string[] => [...cloud.invokes[INVOKE_TOKENS.getInstanceTypeOfferings]({
        locationType: "availability-zone", filters: [{ name: "instance-type", values: [instanceType] }],
    }).locations].sort();
    const order = candidateOrder({
        types: settings.instanceTypes,
        offeringZones: Object.fromEntries(settings.instanceTypes.map((type) => [type, zonesOf(type)])),
        boundZone: settings.availabilityZone,
        markets: marketsOf(settings),
        full: new Set(),
    });
    const groups: Candidate[][] = [];
    for (const candidate of order) {
        const last = groups[groups.length - 1];
        if (last && last[0].instanceType === candidate.instanceType && last[0].market === candidate.market) {
            last.push(candidate);
        } else {
            groups.push([candidate]);
        }
    }
    const priced = SAMPLE_PRICES[cloud.region] !== undefined;
    const chosenRow = groups.findIndex(([first]) => first.instanceType === chosen.instanceType && first.market === chosen.market);
    const rows = groups.map((group, index) => {
        const { instanceType, market } = group[0];
        const typeInfo = fakeTypeInfo(instanceType);
        const price = samplePrice(cloud.region, instanceType, market);
        return [
            index === chosenRow ? "→" : "", `${index + 1}`, instanceType, market, gpuSummary(typeInfo), `${Math.round(typeInfo.memoryMiB / 1024)} GiB`,
            `${typeInfo.vcpus}`, ...(priced ? [price === undefined ? "unknown" : usd(price)] : []),
            group.map((candidate) => candidate.zone.slice(cloud.region.length)).join(", "),
        ];
    });
    return [["", "#", "TYPE", "MARKET", "GPU", "MEMORY", "VCPUS", ...(priced ? ["$/HOUR"] : []), `ZONES OF ${cloud.region}`], ...rows];
}

/** What one notebook asks of the account and the bill: its settings and what its run made. */
interface NotebookNeeds {
    settings: NotebookSettings;
    record: PlanRecord;
}

/**
 * The quotas the notebooks need, added up per quota: each notebook's vCPUs in the quota of every
 * market it may run on (the on-demand fallback's only when spot finds no capacity), and one
 * Elastic IP each. Their values are unknown offline, so nothing is compared with them.
 */
function quotaLines(notebooks: NotebookNeeds[]): string[] {
    const vcpus = new Map<string, { quota: Ec2Quota; count: number; fallback: boolean }>();
    for (const { settings, record } of notebooks) {
        const [instance] = ofType(record, "aws:ec2/instance:Instance");
        marketsOf(settings).forEach((market, index) => {
            const quota = vcpuQuotaFor(instance.inputs.instanceType, market);
            const known = vcpus.get(quota.code);
            vcpus.set(quota.code, {
                quota, count: (known?.count ?? 0) + fakeVcpus(instance.inputs.instanceType), fallback: (known?.fallback ?? true) && index > 0,
            });
        });
    }
    const addresses = notebooks.reduce((sum, { record }) => sum + ofType(record, "aws:ec2/eip:Eip").length, 0);
    const requesting = notebooks.some(({ settings }) => settings.requestQuotaIncrease);
    return [
        "Quotas the account needs (unknown offline: `npm run up` reads them before it creates anything)",
        ...[...vcpus.values()].map(({ quota, count, fallback }) =>
            `  ${count} vCPUs of "${quota.name}" (${quota.code})${fallback ? ", for the on-demand fallback" : ""}`),
        `  ${addresses} Elastic IP${addresses === 1 ? "" : "s"} of "${ELASTIC_IP_QUOTA.name}" (${ELASTIC_IP_QUOTA.code}), ` +
            "besides those the account holds; AWS allows 5 unless raised",
        requesting
            ? `  ${CONFIG_NAMESPACE}:requestQuotaIncrease is true: where a quota is lower, \`npm run up\` asks AWS for this much.`
            : `  A new account often has less: set ${CONFIG_NAMESPACE}:requestQuotaIncrease to true and \`npm run up\` asks AWS, ` +
                "or ask in the Service Quotas console.",
    ];
}

/**
 * What the notebooks cost, from AWS's prices in the offline sample: running, an hour; stopped
 * (disks and address), a month; and a month at `hoursPerWeek`. Where the sample has no price, it
 * says so once, and what is billed.
 */
function costLines(region: string, notebooks: NotebookNeeds[], hoursPerWeek: number, width: number): string[] {
    const several = notebooks.length > 1;
    const each = notebooks.map(({ record }) => {
        const [instance] = ofType(record, "aws:ec2/instance:Instance");
        const [dataVolume] = ofType(record, "aws:ebs/volume:Volume");
        const market: Market = spotTerms(instance) ? "spot" : "on-demand";
        return {
            instanceType: instance.inputs.instanceType as string,
            price: samplePrice(region, instance.inputs.instanceType, market),
            diskGib: Number(instance.inputs.rootBlockDevice.volumeSize) + Number(dataVolume?.inputs.size ?? 0),
            addresses: ofType(record, "aws:ec2/eip:Eip").length,
        };
    });
    const diskGib = each.reduce((sum, notebook) => sum + notebook.diskGib, 0);
    const addresses = each.reduce((sum, notebook) => sum + notebook.addresses, 0);
    const kept = `${diskGib} GiB of gp3 disk and ${addresses} IPv4 address${addresses === 1 ? "" : "es"}`;
    const storage = SAMPLE_STORAGE_PRICES[region];
    const unpriced = [...new Set(each.filter((notebook) => notebook.price === undefined).map((notebook) => notebook.instanceType))];
    if (storage === undefined || unpriced.length > 0) {
        const missing = storage === undefined ? `in ${region}: the offline price sample has AWS's prices for ` +
            `${Object.keys(SAMPLE_STORAGE_PRICES).join(", ")} only` : `for ${unpriced.join(", ")}: the offline price sample has no price for it`;
        return [`Costs: unknown offline ${missing}. \`npm run up\` looks up the instance's price (estimatedHourlyCostUsd). ` +
            `Billed: the instance${several ? "s" : ""} while running; ${kept}, running or stopped.`];
    }
    const costs = each.map((notebook) => notebookCosts(notebook.price as number, { ...storage, diskGib: notebook.diskGib, addresses: notebook.addresses }, hoursPerWeek));
    const total = (pick: (cost: (typeof costs)[number]) => number) => costs.reduce((sum, cost) => sum + pick(cost), 0);
    const instances = each.reduce((sum, notebook) => sum + (notebook.price as number), 0);
    const stopped = total((cost) => cost.stoppedPerMonth);
    const all = several ? `all ${notebooks.length} ` : "";
    const running = total((cost) => cost.runningPerHour);
    const usage = total((cost) => cost.perMonth);
    return [
        `Costs (AWS's ${region} prices, sampled offline; \`npm run up\` looks up the instance's)`,
        ...table([
            [`${all}running`, `${usd(running)} an hour: the instance${several ? "s" : ""} ${usd(instances)}; ${kept} ${usd(running - instances)}`],
            [`${all}stopped`, `${usd(stopped)} a month: ${kept}, billed whether running or not`],
            [`${hoursPerWeek} h a week${several ? " each" : ""}`, `${usd(usage)} a month: the instance${several ? "s" : ""} ` +
                `${costs[0].hoursPerMonth.toFixed(1)} h${several ? " each" : ""} ${usd(usage - stopped)}; ${kept} ${usd(stopped)}`],
        ], width),
        "  For another usage: npm run plan -- --hours-per-week HOURS",
    ];
}

/** A class's notebook running unattended, in a few words: where it notifies, when a job stalls, the grace. */
function unattendedSummary(record: PlanRecord): string {
    const { notify, jobStallMinutes, jobStopGraceSeconds } = machineFileOf(record).unattended as UnattendedFile;
    const [subscription] = ofType(record, "aws:sns/topicSubscription:TopicSubscription");
    const where = [...(subscription ? [`${subscription.inputs.endpoint} (AWS mails a confirmation first)`] : []),
        ...(notify?.webhookParameter ? ["a webhook"] : [])];
    return `notifies ${where.length > 0 ? `${inWords(where)} on ${notify?.events.join(", ")}` : "no one"}; ` +
        (jobStallMinutes > 0 ? `a silent job stalls after ${jobStallMinutes} min` : "jobStallMinutes: 0: a hung job keeps the machine up forever") +
        `; ${jobStopGraceSeconds} s from SIGTERM to SIGKILL at a stop`;
}

/**
 * One line per distinct value of `describe` among the notebooks: "  WHAT, every notebook: …", or
 * "  WHAT, alice and bob: …" when they differ, so a class that shares a setting reads it once.
 */
function sharedLines(what: string, names: string[], describe: (name: string) => string): string[] {
    const groups = new Map<string, string[]>();
    for (const name of names) {
        const text = describe(name);
        groups.set(text, [...(groups.get(text) ?? []), name]);
    }
    return [...groups].map(([text, members]) => `  ${what}, ${groups.size === 1 ? "every notebook" : inWords(members)}: ${text}`);
}

/** A stack of one notebook: its settings, its candidates, the quotas and costs, then every resource. */
async function singleSections({ run, record, stackConfig, hoursPerWeek, width }: PlanInput<NotebookOutputs>): Promise<string[]> {
    const settings = settingsRows({
        record,
        config: (key) => stackConfig.config[`${CONFIG_NAMESPACE}:${key}`],
        region: stackConfig.region,
        zone: await unwrap(run.outputs.availabilityZone),
        standInAmiGb: run.cloud.ami.rootSizeGb,
    });
    const parsed = parseStackConfig(stackConfig.config);
    if (parsed.kind !== "single") {
        throw new Error("a stack of one notebook parsed as a class");
    }
    const [instance] = ofType(record, "aws:ec2/instance:Instance");
    const chosen = { instanceType: instance.inputs.instanceType, market: spotTerms(instance) ? "spot" as const : "on-demand" as const };
    const markets = marketsOf(parsed.settings);
    const notebook = [{ settings: parsed.settings, record }];
    return [
        "Settings",
        ...table(settings, width),
        "",
        `Candidates, in the order a new machine tries them (→ this run's choice): ` +
            (markets.length > 1 ? "every spot candidate first, then on-demand (spotFallback); in each, " : "") +
            "type by type (instanceTypes), zone by zone. GPUs, memory and zones offering a type are offline stand-ins.",
        ...table(candidateRows(parsed.settings, run.cloud, chosen), width),
        "",
        ...quotaLines(notebook),
        "",
        ...costLines(stackConfig.region, notebook, hoursPerWeek, width),
        "",
        `Resources \`pulumi up\` would create (${record.resources.length})`,
        ...resourceTable(record, record.resources, width),
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
async function fleetSections({ run, record, stackConfig, hoursPerWeek, width }: PlanInput<FleetOutputs>): Promise<string[]> {
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
    const parsed = parseStackConfig(stackConfig.config);
    if (parsed.kind !== "fleet") {
        throw new Error("a class parsed as a stack of one notebook");
    }
    const needs = parsed.notebooks.map(({ name, settings }) => ({ settings, record: of(name) }));

    const access = (own: PlanRecord) => {
        const rules = ofType(own, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
        const networks = new Set(rules.map((rule) => rule.inputs.cidrIpv4 ?? rule.inputs.cidrIpv6));
        const ports = [...new Set(rules.map((rule) => rule.inputs.fromPort))].join(",");
        return `tcp ${ports} from ${networks.size === 1 ? [...networks][0] : `${networks.size} networks`}`;
    };
    const accesses = new Set(names.map((name) => access(of(name))));
    // What every notebook has alike is said once, under the table, which then fits the terminal.
    const accessColumn = accesses.size > 1;
    const priced = SAMPLE_PRICES[stackConfig.region] !== undefined;
    const rows = names.map((name) => {
        const own = of(name);
        const [instance] = ofType(own, "aws:ec2/instance:Instance");
        const [dataVolume] = ofType(own, "aws:ebs/volume:Volume");
        const [state] = ofType(own, "aws:ec2transitgateway/instanceState:InstanceState");
        const idle = Number(instance.inputs.tags[IDLE_STOP_TAG]);
        const market: Market = spotTerms(instance) ? "spot" : "on-demand";
        const price = samplePrice(stackConfig.region, instance.inputs.instanceType, market);
        return [
            name,
            instance.inputs.instanceType,
            market,
            notebooks[name].availabilityZone,
            `${diskCell(instance.inputs.rootBlockDevice)}+${dataVolume ? diskCell(dataVolume.inputs) : "0"}`,
            idle > 0 ? `${idle} min` : "off",
            state?.inputs.state ?? "",
            ...(priced ? [price === undefined ? "unknown" : usd(price)] : []),
            ...(accessColumn ? [access(own)] : []),
        ];
    });
    const [example] = names;
    const exampleRecord = of(example);
    return [
        `Notebooks (${names.length}): DISKS are root+data in GiB, gp3 and encrypted unless marked`,
        ...table([
            ["NAME", "TYPE", "MARKET", "ZONE", "DISKS", "IDLE STOP", "STATE", ...(priced ? ["$/HOUR"] : []), ...(accessColumn ? ["ACCESS"] : [])],
            ...rows,
        ], width),
        ...(accessColumn ? [] : [`  access, every notebook: ${[...accesses][0]}`]),
        ...sharedLines("unattended", names, (name) => unattendedSummary(of(name))),
        "",
        ...quotaLines(needs),
        "",
        ...costLines(stackConfig.region, needs, hoursPerWeek, width),
        "",
        `Shared by the notebooks (${shared.length})`,
        ...(shared.length > 0 ? resourceTable(record, shared, width) : ["  nothing: each notebook stands alone"]),
        "",
        `Each notebook's resources: ${example}'s, ${exampleRecord.resources.length} of the ${record.resources.length} \`pulumi up\` would create`,
        ...resourceTable(record, exampleRecord.resources, width),
    ];
}

/** Runs the program offline and renders the plan as text. Throws what the program throws. */
export async function planReport(options: PlanOptions): Promise<string> {
    const stackConfig = readStackConfig(options.configFile, options.stack, options.env, options.defaultFile ? "defaults" : "refuse");
    const cloud = new MockCloud();
    cloud.region = stackConfig.region;
    // The account's quotas are unknown offline: no stand-in value may refuse the plan or pass for
    // the account's. The plan lists what the stack needs instead, and `npm run up` checks it.
    cloud.world.quotas = Object.fromEntries(Object.keys(cloud.world.quotas).map((code) => [code, Number.MAX_SAFE_INTEGER]));
    const run = await runOffline(program, stackConfig.config, cloud);
    const resources = run.cloud.resources.filter((resource) => resource.type !== "pulumi:pulumi:Stack");
    const input = {
        run, record: { resources, options: run.options, calls: run.cloud.calls }, stackConfig,
        hoursPerWeek: options.hoursPerWeek ?? DEFAULT_HOURS_PER_WEEK, width: options.width ?? WIDTH,
    };
    const sections = "notebooks" in run.outputs
        ? await fleetSections(input as PlanInput<FleetOutputs>)
        : await singleSections(input as PlanInput<NotebookOutputs>);
    // A price lookup the offline sample cannot answer is a fact of being offline, which the costs say once.
    const warnings = [...stackConfig.notes, ...run.warnings.filter((warning) => !warning.includes(OFFLINE_PRICE_GAP))];
    return fitText([
        `gpu-notebook plan for stack "${options.stack}" in ${stackConfig.region}`,
        "Offline: the program ran under Pulumi's mock engine (no AWS account, no Pulumi CLI, no network);",
        "AWS lookups were answered with stand-ins, marked as such.",
        "",
        ...sections,
        "",
        warnings.length > 0 ? "Warnings" : "Warnings: none",
        ...warnings.map((warning) => `  - ${warning}`),
        "",
    ].join("\n"), input.width);
}

const USAGE = "npm run plan [-- --config-file FILE] [--hours-per-week HOURS]";

/** The value of `--name VALUE` or `--name=VALUE` in argv, and the arguments it takes; undefined when absent. */
function option(argv: string[], name: string, example: string): { value: string; taken: number[] } | undefined {
    const given = (arg: string) => arg === name || arg.startsWith(`${name}=`);
    const index = argv.findIndex(given);
    if (index < 0) {
        return undefined;
    }
    const times = argv.filter(given).length;
    if (times > 1) {
        throw new PlanInputError([`${name} is given ${times} times: the plan takes one`]);
    }
    if (argv[index].startsWith(`${name}=`)) {
        return { value: argv[index].slice(name.length + 1), taken: [index] };
    }
    const value = argv[index + 1];
    if (value === undefined || value.startsWith("-")) {
        throw new PlanInputError([`${name} needs ${example}: npm run plan -- ${name} ${example}`]);
    }
    return { value, taken: [index, index + 1] };
}

export function planTarget(argv: string[], env: NodeJS.ProcessEnv = process.env): PlanOptions {
    const environment = env.GPU_NOTEBOOK_STACK || undefined;
    const file = option(argv, "--config-file", "a file, such as Pulumi.<stack>.yaml");
    const hours = option(argv, "--hours-per-week", "a number of hours, such as 20");
    const taken = new Set([...file?.taken ?? [], ...hours?.taken ?? []]);
    const unknown = argv.filter((_, index) => !taken.has(index));
    if (unknown.length > 0) {
        throw new PlanInputError([`unknown argument ${unknown[0]}`, `usage: ${USAGE}`]);
    }
    let hoursPerWeek = DEFAULT_HOURS_PER_WEEK;
    if (hours !== undefined) {
        hoursPerWeek = Number(hours.value);
        if (hours.value.trim() === "" || !Number.isFinite(hoursPerWeek) || hoursPerWeek < 0 || hoursPerWeek > HOURS_PER_WEEK) {
            throw new PlanInputError([`--hours-per-week ${hours.value} is not accepted: the hours a week the notebook runs, ` +
                `from 0 to ${HOURS_PER_WEEK} (a week's hours), such as 20 for 4 hours a day on weekdays`]);
        }
    }
    if (file?.value === "") {
        throw new PlanInputError(["--config-file= needs a file: npm run plan -- --config-file=Pulumi.<stack>.yaml"]);
    }
    if (file === undefined) {
        const stack = environment ?? "dev";
        return { stack, configFile: path.join(__dirname, "..", `Pulumi.${stack}.yaml`), hoursPerWeek, env, defaultFile: true };
    }
    // npm runs scripts in the project folder; a relative path is relative to where the user typed it.
    const configFile = path.resolve(env.INIT_CWD ?? process.cwd(), file.value);
    return { stack: stackNameFor(configFile, environment), configFile, hoursPerWeek, env };
}

/** The help: this file's opening comment. */
function help(): string {
    const lines = readFileSync(__filename, "utf8").split("\n");
    return lines.slice(0, lines.findIndex((line) => !line.startsWith("//"))).map((line) => line.replace(/^\/\/ ?/, "")).join("\n");
}

async function main(argv: string[]): Promise<number> {
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log(help());
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
            console.error(fitText(error.message));
            return 1;
        }
        if (error instanceof PlanInputError) {
            console.error(error.lines.flatMap((line) => fitLine(`gpu-notebook plan: ${line}`, WIDTH, "  ")).join("\n"));
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
