// Parses and validates the stack's configuration into typed notebook settings.
// Pure: reads a plain key→string map, creates no resources, so every bad value is refused
// before anything exists in AWS. The rules of each key live here alone: the user scripts read
// config through this module too (scripts/stack-config.ts).
import * as ipaddr from "ipaddr.js";
// Its own module: the scripts read config without loading the whole SDK (about a second).
import { RunError } from "@pulumi/pulumi/errors";

export const CONFIG_NAMESPACE = "gpu-notebook";

/** x86_64 NVIDIA GPU families the AWS Deep Learning AMIs (OSS NVIDIA driver) support. */
export const GPU_FAMILIES = [
    "g4dn", "g5", "g6", "g6e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200",
] as const;

/**
 * GPU families built on Arm (Graviton) processors: the x86_64 Deep Learning AMI cannot run them, and
 * one AMI runs one architecture, so a list of candidates may not mix them with the families above.
 */
const ARM_GPU_FAMILIES = ["g5g"] as const;

/** AWS allows 60 inbound rules per security group; each CIDR needs one per open port. */
const MAX_ALLOWED_CIDRS = 30;

/** Settings a notebook is built from: every field already validated and defaulted. */
export interface NotebookSettings {
    /** Networks that may reach SSH and the notebook, normalised CIDRs (IPv4 or IPv6). */
    allowedCidrs: string[];
    /** Explicit opt-in to ports open to the whole internet (0.0.0.0/0 or ::/0). Default false. */
    allowOpenAccess: boolean;
    /** The first choice of instanceTypes: the type a new machine tries first. */
    instanceType: string;
    /**
     * Candidate EC2 instance types, tried in this order when EC2 has no capacity for the one
     * before (a new machine; a stopped one changes type only when asked: `npm run start -- --type`).
     * NVIDIA GPU types of one architecture, each once. Default [g4dn.xlarge], the cheapest.
     * Config `instanceType` means a list of one; config `instanceTypes` sets the whole list.
     */
    instanceTypes: readonly string[];
    /** Pinned AMI. Undefined: the latest Deep Learning AMI (PyTorch, Ubuntu), looked up at deploy. */
    amiId?: string;
    /** Root disk size in GiB. Undefined: the AMI's snapshot plus room for work (see aws-data.ts). */
    diskSizeGb?: number;
    /** TCP port Jupyter listens on. Default 8888. */
    notebookPort: number;
    /** Notebook password. Undefined: generated once and kept in state. Always handled as a secret. */
    notebookPassword?: string;
    /** Login user of the AMI; owns the notebook server and its files. Default ubuntu. */
    sshUser: string;
    /**
     * Size in GiB of the separate encrypted gp3 volume mounted at ~/notebooks, which outlives
     * the machine (re-attached when it is replaced, snapshotted on destroy). Default 100: room for
     * a course's notebooks, datasets and checkpoints for about $8 a month. 0: no data volume,
     * everything stays on the root disk, which a replaced machine does not keep.
     */
    dataVolumeGb: number;
    /** Snapshot to create the data volume from (getting work back after a destroy). Default none. */
    restoreFromSnapshotId?: string;
    /** Availability zone to run in. Undefined: the zone of the existing notebook, else the first zone offering the type. */
    availabilityZone?: string;
    /**
     * The zone to move a stopped notebook to (set by `npm run move -- --zone`): its data volume
     * goes there by snapshot, the machine is recreated there (its root disk is not kept). Once the
     * copy is attached, later runs remove the snapshot and the old volume (preflight.ts decideMove).
     * Undefined: the notebook stays where its data volume is.
     */
    moveToZone?: string;
    /** Subnet to run in (bring your own network); it decides the zone. Undefined: chosen in the VPC. */
    subnetId?: string;
    /** VPC to run in. Undefined: the subnet's VPC, else the default VPC, else a minimal one is created. */
    vpcId?: string;
    /**
     * When the account's GPU vCPU quota is below what the type needs: file the increase request
     * (AWS must approve it) instead of refusing. Default false: nothing is requested unasked.
     */
    requestQuotaIncrease: boolean;
    /**
     * Whether the notebook port is open to allowedCidrs. Default true. False opens only SSH:
     * Jupyter listens on the instance's 127.0.0.1 and is reached through an SSH tunnel
     * (`npm run tunnel`), for networks or policies that allow nothing but SSH.
     */
    exposeNotebook: boolean;
    /**
     * Minutes without Jupyter kernel activity, GPU load or an SSH session after which the machine
     * powers itself off (it stops; disk and address stay). Default 60: a forgotten machine costs
     * at most about an hour. 0 disables idle stop and its CloudWatch backstop.
     */
    idleStopMinutes: number;
    /** Whether the instance should be running. Default true; false stops it, keeping disk and address. */
    running: boolean;
    /**
     * Run on a spot instance (persistent request, stops on interruption so nothing is lost).
     * Default false: on-demand, which AWS never takes away.
     */
    spot: boolean;
    /**
     * With spot: "on-demand" lets a launch or a start fall back to on-demand when no candidate has
     * spot capacity (the run says so with the price difference). Default undefined: spot only.
     */
    spotFallback?: "on-demand";
    /** Monthly AWS budget in USD for the account; alerts go to alertEmail. Undefined: no budget. */
    monthlyBudgetUsd?: number;
    /** Where budget alerts go; required together with monthlyBudgetUsd. */
    alertEmail?: string;
}

/** How the instance is bought; each market has its own vCPU quotas and its own price. */
export type Market = "on-demand" | "spot";

/** The market the settings choose: decided here once for the quota check, the price and the instance. */
export function marketOf(settings: Pick<NotebookSettings, "spot">): Market {
    return settings.spot ? "spot" : "on-demand";
}

/** The defaults the code applies; Pulumi.yaml documents the same values (a test keeps them equal). Exported for tests. */
export const DEFAULTS = {
    allowOpenAccess: false,
    instanceType: "g4dn.xlarge",
    notebookPort: 8888,
    sshUser: "ubuntu",
    dataVolumeGb: 100,
    requestQuotaIncrease: false,
    exposeNotebook: true,
    idleStopMinutes: 60,
    running: true,
    spot: false,
} as const;

/** Every key this program reads; anything else in the namespace is a typo worth stopping for. Exported for tests. */
export const CONFIG_KEYS = [
    "allowedCidrs", "allowOpenAccess", "instanceType", "instanceTypes", "spotFallback", "amiId", "diskSizeGb",
    "notebookPort", "notebookPassword", "sshUser", "exposeNotebook",
    "idleStopMinutes", "running", "spot", "monthlyBudgetUsd", "alertEmail",
    "dataVolumeGb", "restoreFromSnapshotId", "availabilityZone", "moveToZone", "subnetId", "vpcId", "requestQuotaIncrease",
    "notebooks",
] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/**
 * Keys of the whole account, or of the stack's one network: top-level only, never in an entry of
 * `notebooks`. One budget covers the account; a quota request is the account's; the notebooks of
 * a stack share its network.
 */
const ACCOUNT_KEYS = ["monthlyBudgetUsd", "alertEmail", "requestQuotaIncrease", "vpcId", "subnetId"] as const;
type AccountKey = (typeof ACCOUNT_KEYS)[number];

/** Keys an entry of `notebooks` may set for its notebook alone: every key but the account's. */
const PER_NOTEBOOK_KEYS = CONFIG_KEYS.filter((key): key is Exclude<ConfigKey, AccountKey | "notebooks"> =>
    key !== "notebooks" && !(ACCOUNT_KEYS as readonly string[]).includes(key));

/** A notebook's name in `notebooks`: it ends resource names, tags and local file names. */
const NOTEBOOK_NAME = /^[a-z][a-z0-9-]{0,19}$/;

/** One reason a deploy is refused, as a sentence a user can act on. */
export interface Problem {
    /**
     * The setting to change (a key of this namespace, or an unknown one). Absent when the AWS
     * account, not a setting, stands in the way: a quota, a missing default subnet, stray tags.
     */
    key?: string;
    message: string;
    /** In a stack with `notebooks`: the notebooks it concerns (absent: the stack, or all of them alike). */
    notebooks?: string[];
}

/**
 * Thrown before anything is created when the notebook cannot be deployed as configured; the
 * message holds one line per problem. Its heading tells the user where to look: "Configuration
 * refused" when every problem names a setting to change, "Launch refused" when the account must
 * change first (the error is then named LaunchRefused).
 */
// A RunError: the Pulumi CLI shows its message alone, never a stack trace (a refusal is the user's to read).
export class DeployRefused extends RunError {
    constructor(readonly problems: Problem[]) {
        const account = problems.some((p) => p.key === undefined);
        super(`${account ? "Launch" : "Configuration"} refused, nothing was created:\n${problems.map((p) => `  - ${p.message}`).join("\n")}`);
        this.name = account ? "LaunchRefused" : "ConfigError";
    }
}

const MIN_PASSWORD_LENGTH = 12;

/** Idle stop limits, in minutes: long enough to boot and log in, short enough to matter. */
const IDLE_STOP_MIN_MINUTES = 10;
/** At most 12 hours, so the CloudWatch backstop (twice as long) fits in its one-day window. */
const IDLE_STOP_MAX_MINUTES = 720;
const MAX_BUDGET_USD = 1_000_000;
const GP3_MAX_GIB = 16384;

/** How a user allows the address they are at now: the one place that does it is that script. */
const ALLOW_MY_IP_COMMAND = "npm run allow-my-ip";

function show(value: unknown): string {
    return JSON.stringify(value);
}

/** The one sentence every refused value gets: key, value, and what would be accepted. */
export function problem(key: ConfigKey, value: unknown, accepted: string): Problem {
    return { key, message: `${CONFIG_NAMESPACE}:${key} = ${show(value)} is not accepted: ${accepted}` };
}

/** Validates one CIDR; returns its canonical form, or a sentence saying what is wrong. */
function checkCidr(text: string): { cidr: string } | { error: string } {
    const trimmed = text.trim();
    if (!trimmed.includes("/")) {
        const single = ipaddr.isValid(trimmed) ? ipaddr.parse(trimmed) : undefined;
        return {
            error: single
                ? `a CIDR needs a prefix length; for that one address use ${single.toString()}/${single.kind() === "ipv4" ? 32 : 128}`
                : "expected an IPv4 or IPv6 CIDR such as 203.0.113.7/32 or 2001:db8::/64",
        };
    }
    const [address, prefixText] = trimmed.split("/", 2);
    const isV4Text = /^\d+\.\d+\.\d+\.\d+$/.test(address);
    if ((isV4Text && !ipaddr.IPv4.isValidFourPartDecimal(address)) || !/^\d{1,3}$/.test(prefixText)) {
        return { error: "expected an IPv4 or IPv6 CIDR such as 203.0.113.7/32 or 2001:db8::/64" };
    }
    let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
        parsed = ipaddr.parseCIDR(trimmed);
    } catch {
        return { error: "expected an IPv4 or IPv6 CIDR such as 203.0.113.7/32 or 2001:db8::/64" };
    }
    const [addr, prefix] = parsed;
    if (addr.kind() === "ipv4" && !isV4Text) {
        return { error: "write IPv4 addresses as four decimal parts, such as 203.0.113.7/32" };
    }
    const network = addr.kind() === "ipv4"
        ? ipaddr.IPv4.networkAddressFromCIDR(trimmed)
        : ipaddr.IPv6.networkAddressFromCIDR(trimmed);
    const canonical = `${network.toString()}/${prefix}`;
    if (network.toString() !== addr.toString()) {
        const single = `${addr.toString()}/${addr.kind() === "ipv4" ? 32 : 128}`;
        return { error: `host bits are set; use ${canonical} for the whole network or ${single} for that one address` };
    }
    return { cidr: canonical };
}

function isOpenToWorld(cidr: string): boolean {
    return cidr.endsWith("/0");
}

/** What deserves a warning in settings that are accepted: ports open to the whole internet. */
export function settingsWarnings(settings: NotebookSettings): string[] {
    const open = settings.allowedCidrs.filter(isOpenToWorld);
    return open.length > 0 && settings.allowOpenAccess
        ? [`${CONFIG_NAMESPACE}:allowedCidrs includes ${open.join(" and ")}: SSH and the notebook are open to the whole internet ` +
            `(${CONFIG_NAMESPACE}:allowOpenAccess is true); list your own networks instead (${ALLOW_MY_IP_COMMAND})`]
        : [];
}

// Settings validateSettings returned (frozen, so they stay valid): handed back in, they are not checked again.
const validated = new WeakSet<NotebookSettings>();

/**
 * Validates typed settings. Throws one DeployRefused listing every bad value, each naming the
 * key, the value and what would be accepted. Returns the settings with CIDRs normalised, frozen;
 * given settings it returned before, it returns them as they are.
 */
export function validateSettings(settings: NotebookSettings): NotebookSettings {
    if (validated.has(settings)) {
        return settings;
    }
    const problems: Problem[] = [];
    const cidrs: string[] = [];

    if (settings.allowedCidrs.length === 0) {
        problems.push({
            key: "allowedCidrs",
            message: `${CONFIG_NAMESPACE}:allowedCidrs is not set. Only the networks you list can reach SSH and the notebook. ` +
                `To allow just the address you are at now, run:\n      ${ALLOW_MY_IP_COMMAND}\n    ` +
                `(npm run up does this for you when allowedCidrs is unset; or set networks yourself: ` +
                `pulumi config set --path 'allowedCidrs[0]' 203.0.113.7/32)`,
        });
    }
    for (const entry of settings.allowedCidrs) {
        const checked = checkCidr(entry);
        if ("error" in checked) {
            problems.push(problem("allowedCidrs", entry, checked.error));
        } else if (cidrs.includes(checked.cidr)) {
            problems.push(problem("allowedCidrs", entry, `${checked.cidr} is listed twice; list each network once`));
        } else if (isOpenToWorld(checked.cidr) && !settings.allowOpenAccess) {
            problems.push(problem("allowedCidrs", entry,
                "it opens SSH and the notebook to the whole internet; list your own networks instead " +
                `(${ALLOW_MY_IP_COMMAND}), or set ${CONFIG_NAMESPACE}:allowOpenAccess to true if you really mean it`));
        } else {
            cidrs.push(checked.cidr);
        }
    }
    if (settings.allowedCidrs.length > MAX_ALLOWED_CIDRS) {
        problems.push(problem("allowedCidrs", `${settings.allowedCidrs.length} entries`,
            `at most ${MAX_ALLOWED_CIDRS} networks (AWS allows 60 inbound rules per security group, two per network)`));
    }

    problems.push(...instanceTypeProblems(settings));

    if (settings.amiId !== undefined && !isAwsId("ami", settings.amiId)) {
        problems.push(problem("amiId", settings.amiId,
            "an AMI id such as ami-0123456789abcdef0, or leave it unset for the latest Deep Learning AMI"));
    }

    // The real minimum is the AMI's own size, which only the deploy knows (and checks).
    if (settings.diskSizeGb !== undefined &&
        (!Number.isInteger(settings.diskSizeGb) || settings.diskSizeGb < 1 || settings.diskSizeGb > GP3_MAX_GIB)) {
        problems.push(problem("diskSizeGb", settings.diskSizeGb,
            `a whole number of GiB, at least the AMI's own size (the deploy looks it up and says it) and at most ${GP3_MAX_GIB}; ` +
            "leave it unset for a size that fits"));
    }

    const port = settings.notebookPort;
    if (!Number.isInteger(port) || port < 1024 || port > 65535) {
        problems.push(problem("notebookPort", port,
            "a whole number from 1024 to 65535" + (port === 22 ? " (22 is SSH's port, which the notebook cannot share)" : "")));
    }

    if (settings.notebookPassword !== undefined && settings.notebookPassword.length < MIN_PASSWORD_LENGTH) {
        // The value itself is a secret: name the key and the length, never the password.
        problems.push({
            key: "notebookPassword",
            message: `${CONFIG_NAMESPACE}:notebookPassword (a secret of ${settings.notebookPassword.length} characters) ` +
                `is not accepted: at least ${MIN_PASSWORD_LENGTH} characters, because the notebook runs code for whoever logs in; ` +
                `or leave it unset and one is generated`,
        });
    }

    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(settings.sshUser) || settings.sshUser === "root") {
        problems.push(problem("sshUser", settings.sshUser,
            "a Linux user name (lower-case letters, digits, - and _, starting with a letter or _, at most 32 characters), not root"));
    }

    problems.push(...placementProblems(settings));
    // The component may be used from JavaScript or YAML, where nothing checks the type.
    if (typeof settings.exposeNotebook !== "boolean") {
        problems.push(problem("exposeNotebook", settings.exposeNotebook,
            "true (the notebook port is open to allowedCidrs) or false (SSH only; reach the notebook through `npm run tunnel`)"));
    }
    const idle = settings.idleStopMinutes;
    if (!Number.isInteger(idle) || (idle !== 0 && (idle < IDLE_STOP_MIN_MINUTES || idle > IDLE_STOP_MAX_MINUTES))) {
        problems.push(problem("idleStopMinutes", idle,
            `a whole number of minutes from ${IDLE_STOP_MIN_MINUTES} to ${IDLE_STOP_MAX_MINUTES}, or 0 to never stop an idle machine`));
    }

    problems.push(...budgetProblems(settings));
    if (settings.spotFallback !== undefined && (settings.spotFallback !== "on-demand" || !settings.spot)) {
        problems.push(problem("spotFallback", settings.spotFallback, settings.spotFallback === "on-demand"
            ? `only with ${CONFIG_NAMESPACE}:spot set to true (an on-demand notebook has nothing to fall back from); or unset it`
            : "on-demand (fall back to on-demand when no candidate has spot capacity), or unset for spot only"));
    }

    if (problems.length > 0) {
        throw new DeployRefused(problems);
    }
    const valid = Object.freeze({
        ...settings, allowedCidrs: Object.freeze(cidrs) as string[], instanceTypes: Object.freeze([...settings.instanceTypes]),
    });
    validated.add(valid);
    return valid;
}

/** What a refused candidate type is told would be accepted. */
const GPU_TYPE_ACCEPTED = `an NVIDIA GPU instance type the Deep Learning AMI supports, from the families ${GPU_FAMILIES.join(", ")}, ` +
    "such as g4dn.xlarge or g5.2xlarge";

/** Why one type cannot be a candidate, or undefined when it can. */
function typeRefusal(instanceType: string): string | undefined {
    const family = instanceType.split(".")[0];
    if (new RegExp(`^(${GPU_FAMILIES.join("|")})\\.(\\d*xlarge|large|metal)$`).test(instanceType)) {
        return undefined;
    }
    if (isArmGpuType(instanceType)) {
        return "Graviton GPU types need an arm64 AMI, which this product does not use";
    }
    if ((GPU_FAMILIES as readonly string[]).includes(family)) {
        return "the size part after the dot is not valid";
    }
    return /^[a-z][a-z0-9-]*\.[a-z0-9-]+$/.test(instanceType)
        ? "it has no NVIDIA GPU the Deep Learning AMI supports (a CPU-only type, or another accelerator)"
        : "it is not an EC2 instance type name";
}

function isArmGpuType(instanceType: string): boolean {
    return (ARM_GPU_FAMILIES as readonly string[]).includes(instanceType.split(".")[0]) || /^g\d+g\./.test(instanceType);
}

/**
 * The candidate types: every one a supported GPU type of one architecture, each once, at least
 * one. A refusal names the key the user set: instanceType for a list of one given that way.
 */
function instanceTypeProblems(settings: NotebookSettings): Problem[] {
    const types = settings.instanceTypes;
    const single = types.length === 1 && !typesListed.has(settings);
    if (types.length === 0) {
        return [problem("instanceTypes", [], `a list of one or more types, each ${GPU_TYPE_ACCEPTED}, in the order to try them; ` +
            `or unset it for ${DEFAULTS.instanceType}`)];
    }
    const problems: Problem[] = [];
    types.forEach((type, index) => {
        const why = typeRefusal(type);
        if (why !== undefined) {
            problems.push(single
                ? problem("instanceType", type, `${GPU_TYPE_ACCEPTED} (${why})`)
                : problem("instanceTypes", types, `${type} is refused (${why}); each candidate is ${GPU_TYPE_ACCEPTED}`));
        } else if (types.indexOf(type) !== index) {
            problems.push(problem("instanceTypes", types, `${type} is listed twice; list each type once, in the order to try them`));
        }
    });
    const arm = types.filter(isArmGpuType);
    const x86 = types.filter((type) => typeRefusal(type) === undefined);
    if (arm.length > 0 && x86.length > 0) {
        problems.push(problem("instanceTypes", types, `it mixes two architectures, x86_64 (${x86.join(", ")}) and arm64 ` +
            `(${arm.join(", ")}); one AMI runs one architecture, so list x86_64 types only`));
    }
    if (settings.instanceType !== types[0]) {
        problems.push(problem("instanceType", settings.instanceType,
            `the first of instanceTypes (${types[0]}); set ${CONFIG_NAMESPACE}:instanceType or ${CONFIG_NAMESPACE}:instanceTypes, not both`));
    }
    return problems;
}

// Settings whose candidates came from config `instanceTypes` (so a refusal names that key even for a list of one).
const typesListed = new WeakSet<NotebookSettings>();

/** The account's budget: an amount and where its alerts go, both or neither. */
function budgetProblems({ monthlyBudgetUsd: budget, alertEmail: email }: Pick<NotebookSettings, "monthlyBudgetUsd" | "alertEmail">): Problem[] {
    const problems: Problem[] = [];
    if (budget !== undefined && !(Number.isFinite(budget) && budget > 0 && budget <= MAX_BUDGET_USD)) {
        problems.push(problem("monthlyBudgetUsd", budget, `an amount in USD above 0 and at most ${MAX_BUDGET_USD}, such as 50 or 49.99`));
    }
    if (email !== undefined && !/^[^\s@,;]+@[^\s@,;]+\.[^\s@,;.]+$/.test(email)) {
        problems.push(problem("alertEmail", email, "one email address such as you@example.org"));
    }
    if ((budget === undefined) !== (email === undefined)) {
        problems.push({
            // The one that is missing.
            key: budget === undefined ? "monthlyBudgetUsd" : "alertEmail",
            message: `${CONFIG_NAMESPACE}:monthlyBudgetUsd and ${CONFIG_NAMESPACE}:alertEmail go together: ` +
                (budget === undefined
                    ? `alertEmail is set but monthlyBudgetUsd is not; set monthlyBudgetUsd to the monthly amount in USD`
                    : `monthlyBudgetUsd is set but alertEmail is not; set alertEmail to the address budget alerts go to`) +
                ", or unset both for no budget",
        });
    }
    return problems;
}

/** An AWS id: prefix, dash, 8 or 17 lower-case hex digits. */
function isAwsId(prefix: string, value: string): boolean {
    return new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`).test(value);
}

/** Regional zones (us-east-1a) and Local Zones (us-east-1-bos-1a). */
const ZONE_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+(-[a-z]+-\d+)?[a-z]$/;

/** Data volume and network placement: formats here, agreement with AWS in preflight.ts. */
function placementProblems(settings: NotebookSettings): Problem[] {
    const problems: Problem[] = [];
    const size = settings.dataVolumeGb;
    if (!Number.isInteger(size) || size < 0 || size > GP3_MAX_GIB) {
        problems.push(problem("dataVolumeGb", size,
            `a whole number of GiB from 1 to ${GP3_MAX_GIB} for the volume that keeps ~/notebooks, or 0 for none`));
    }
    const snapshot = settings.restoreFromSnapshotId;
    if (snapshot !== undefined && !isAwsId("snap", snapshot)) {
        problems.push(problem("restoreFromSnapshotId", snapshot, "a snapshot id such as snap-0123456789abcdef0"));
    } else if (snapshot !== undefined && size === 0) {
        problems.push(problem("restoreFromSnapshotId", snapshot,
            `only with a data volume to restore into; set ${CONFIG_NAMESPACE}:dataVolumeGb to at least the snapshot's size`));
    }
    if (settings.availabilityZone !== undefined && !ZONE_PATTERN.test(settings.availabilityZone)) {
        problems.push(problem("availabilityZone", settings.availabilityZone,
            "an availability zone name of the stack's region, such as us-east-1b, or leave it unset to have one chosen"));
    }
    if (settings.moveToZone !== undefined && !ZONE_PATTERN.test(settings.moveToZone)) {
        problems.push(problem("moveToZone", settings.moveToZone,
            "an availability zone name of the stack's region that offers one of the candidate types, such as us-east-1c (npm run move -- --zone ZONE sets it)"));
    } else if (settings.moveToZone !== undefined && size === 0) {
        problems.push(problem("moveToZone", settings.moveToZone,
            `only with a data volume to move: with ${CONFIG_NAMESPACE}:dataVolumeGb 0 the work lives on the root disk, which a move does not keep`));
    }
    if (settings.subnetId !== undefined && !isAwsId("subnet", settings.subnetId)) {
        problems.push(problem("subnetId", settings.subnetId, "a subnet id such as subnet-0123456789abcdef0"));
    }
    if (settings.vpcId !== undefined && !isAwsId("vpc", settings.vpcId)) {
        problems.push(problem("vpcId", settings.vpcId, "a VPC id such as vpc-0123456789abcdef0"));
    }
    return problems;
}

function parseList(key: ConfigKey, text: string, problems: Problem[]): string[] {
    const trimmed = text.trim();
    if (trimmed.startsWith("[")) {
        try {
            const value: unknown = JSON.parse(trimmed);
            if (Array.isArray(value) && value.every((item) => typeof item === "string")) {
                return value;
            }
        } catch {
            // fall through to the problem below
        }
        problems.push(problem(key, text, `a list of strings, such as ${key === "instanceTypes" ? '["g5.xlarge", "g4dn.xlarge"]' : '["203.0.113.7/32"]'}`));
        return [];
    }
    // `pulumi config set allowedCidrs 1.2.3.4/32,10.0.0.0/8` stores a plain string: accept it.
    return trimmed.split(/[\s,]+/).filter((item) => item.length > 0);
}

function parseAmount(key: ConfigKey, text: string, problems: Problem[]): number {
    if (/^\s*\d+(\.\d{1,2})?\s*$/.test(text)) {
        return Number(text);
    }
    problems.push(problem(key, text, "an amount in USD with at most two decimals, such as 50 or 49.99"));
    return Number.NaN;
}

function parseBoolean(key: ConfigKey, text: string, problems: Problem[]): boolean {
    if (text === "true" || text === "false") {
        return text === "true";
    }
    problems.push(problem(key, text, "true or false"));
    return false;
}

function parseInteger(key: ConfigKey, text: string, problems: Problem[]): number {
    if (/^\s*-?\d+\s*$/.test(text)) {
        return Number(text);
    }
    problems.push(problem(key, text, "a whole number"));
    return Number.NaN;
}

/** Config values by key, as the engine hands them over: text, lists and objects as JSON. */
type ConfigValues = ReadonlyMap<string, string>;

/** A value, or undefined when unset: an empty string is what Pulumi.yaml's documented "unset" defaults look like. */
function textOf(values: ConfigValues, key: ConfigKey): string | undefined {
    const value = values.get(key);
    return value === undefined || value.trim() === "" ? undefined : value;
}

function optional<T>(
    values: ConfigValues, key: ConfigKey, parse: (key: ConfigKey, text: string, problems: Problem[]) => T, problems: Problem[],
): T | undefined {
    const text = textOf(values, key);
    return text === undefined ? undefined : parse(key, text, problems);
}

function budgetOf(values: ConfigValues, problems: Problem[]): Pick<NotebookSettings, "monthlyBudgetUsd" | "alertEmail"> {
    const monthlyBudgetUsd = optional(values, "monthlyBudgetUsd", parseAmount, problems);
    // 0 is Pulumi.yaml's documented "no budget".
    return { monthlyBudgetUsd: monthlyBudgetUsd === 0 ? undefined : monthlyBudgetUsd, alertEmail: textOf(values, "alertEmail")?.trim() };
}

/** Settings from config values, defaults applied, not yet validated; a value that cannot be parsed is a problem. */
function settingsFrom(values: ConfigValues, problems: Problem[]): NotebookSettings {
    const get = (key: ConfigKey) => textOf(values, key);
    const read = <T>(key: ConfigKey, parse: (key: ConfigKey, text: string, problems: Problem[]) => T) => optional(values, key, parse, problems);
    const diskSizeGb = read("diskSizeGb", parseInteger);
    const single = get("instanceType")?.trim();
    const listed = read("instanceTypes", parseList);
    if (single !== undefined && listed !== undefined) {
        problems.push(problem("instanceTypes", listed, `a list, or ${CONFIG_NAMESPACE}:instanceType = ${show(single)}, not both: ` +
            `instanceType means a list of one; keep one of them (pulumi config rm instanceType)`));
    }
    const instanceTypes = listed ?? [single ?? DEFAULTS.instanceType];
    const settings: NotebookSettings = {
        allowedCidrs: read("allowedCidrs", parseList) ?? [],
        allowOpenAccess: read("allowOpenAccess", parseBoolean) ?? DEFAULTS.allowOpenAccess,
        instanceType: instanceTypes[0] ?? "",
        instanceTypes,
        amiId: get("amiId")?.trim(),
        // 0 is Pulumi.yaml's documented "choose for me".
        diskSizeGb: diskSizeGb === 0 ? undefined : diskSizeGb,
        notebookPort: read("notebookPort", parseInteger) ?? DEFAULTS.notebookPort,
        notebookPassword: values.get("notebookPassword") || undefined,
        sshUser: get("sshUser")?.trim() ?? DEFAULTS.sshUser,
        dataVolumeGb: read("dataVolumeGb", parseInteger) ?? DEFAULTS.dataVolumeGb,
        restoreFromSnapshotId: get("restoreFromSnapshotId")?.trim(),
        availabilityZone: get("availabilityZone")?.trim(),
        moveToZone: get("moveToZone")?.trim(),
        subnetId: get("subnetId")?.trim(),
        vpcId: get("vpcId")?.trim(),
        requestQuotaIncrease: read("requestQuotaIncrease", parseBoolean) ?? DEFAULTS.requestQuotaIncrease,
        exposeNotebook: read("exposeNotebook", parseBoolean) ?? DEFAULTS.exposeNotebook,
        idleStopMinutes: read("idleStopMinutes", parseInteger) ?? DEFAULTS.idleStopMinutes,
        running: read("running", parseBoolean) ?? DEFAULTS.running,
        spot: read("spot", parseBoolean) ?? DEFAULTS.spot,
        spotFallback: get("spotFallback")?.trim() as NotebookSettings["spotFallback"],
        ...budgetOf(values, problems),
    };
    if (listed !== undefined) {
        typesListed.add(settings);
    }
    return settings;
}

/**
 * Parses and validates config values: every problem they have, the values that cannot be parsed
 * first, then the other keys' (so one run shows all to fix); the settings when there is none.
 */
function checkSettings(values: ConfigValues): { settings?: NotebookSettings; problems: Problem[] } {
    const problems: Problem[] = [];
    const settings = settingsFrom(values, problems);
    const unparsed = new Set(problems.map((p) => p.key));
    try {
        const valid = validateSettings(settings);
        return problems.length === 0 ? { settings: valid, problems } : { problems };
    } catch (error) {
        if (!(error instanceof DeployRefused)) {
            throw error;
        }
        return { problems: [...problems, ...error.problems.filter((p) => !unparsed.has(p.key))] };
    }
}

/** Levenshtein distance: the fewest one-character insertions, deletions and substitutions from a to b. */
function editDistance(a: string, b: string): number {
    let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
    for (let i = 1; i <= a.length; i++) {
        const current = [i];
        for (let j = 1; j <= b.length; j++) {
            current.push(Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
        }
        previous = current;
    }
    return previous[b.length];
}

/**
 * The known name `text` most likely misspells: the nearest by edit distance, case aside, within
 * a slip of the fingers (two edits, or one in four characters of a long name). Undefined if none is.
 */
function nearest(text: string, known: readonly string[]): string | undefined {
    const distances = known.map((candidate) => ({ candidate, distance: editDistance(text.toLowerCase(), candidate.toLowerCase()) }));
    const best = distances.sort((a, b) => a.distance - b.distance)[0];
    return best !== undefined && best.distance <= Math.max(2, Math.floor(text.length / 4)) ? best.candidate : undefined;
}

/** A key this program does not read, named as the user wrote it, with the known key it likely misspells. */
function unknownKey(key: string, known: readonly string[], nameOf: (key: string) => string): Problem {
    const near = nearest(key, known);
    return {
        key,
        message: `${nameOf(key)} is not a setting this program reads` +
            (near ? `; did you mean ${nameOf(near)}?` : "; docs/configuration.md lists every setting"),
    };
}

/**
 * A key of another namespace that was surely meant for this program: its namespace is a slip away
 * from this one (gpu_notebook:), or its name is one of the settings (notebook:instanceType). Left
 * alone, it would deploy the defaults without a word. Undefined for any other key (aws:region).
 */
function misplacedKey(namespace: string, key: string): Problem | undefined {
    const setting = nearest(key, CONFIG_KEYS);
    if (editDistance(namespace, CONFIG_NAMESPACE) > 2 && !(CONFIG_KEYS as readonly string[]).includes(key)) {
        return undefined;
    }
    return {
        key: `${namespace}:${key}`,
        message: `${namespace}:${key} is not read: this program's settings are in the namespace ${CONFIG_NAMESPACE}; ` +
            `did you mean ${topLevelName(setting ?? key)}?`,
    };
}

const topLevelName = (key: string) => `${CONFIG_NAMESPACE}:${key}`;

/** A notebook's entry, or one of its settings, named as `pulumi config set --path` takes it. */
function notebookPath(notebook: string, key?: string): string {
    return `${CONFIG_NAMESPACE}:notebooks.${notebook}${key === undefined ? "" : `.${key}`}`;
}

/** The account's monthly budget with its alerts, for the whole stack. */
export interface Budget {
    monthlyBudgetUsd: number;
    alertEmail: string;
}

/** One notebook of a stack with `notebooks`: its entry's keys over the top-level ones, validated. */
export interface NamedSettings {
    name: string;
    /** Its settings; the budget is the stack's (StackSettings budget), never a notebook's. */
    settings: NotebookSettings;
    /** The keys its entry sets itself; the others it inherits from the top level. */
    ownKeys: ReadonlySet<string>;
}

/** What the stack's config asks for: one notebook (no `notebooks`), or one per entry of `notebooks`. */
export type StackSettings =
    | { kind: "single"; settings: NotebookSettings }
    | { kind: "fleet"; notebooks: NamedSettings[]; budget?: Budget };

/**
 * Turns the raw config map (keys with or without the `gpu-notebook:` prefix, values as the
 * Pulumi engine hands them over: strings, lists and objects as JSON) into validated settings.
 * Throws one DeployRefused listing every problem, of every notebook.
 */
export function parseStackConfig(raw: Record<string, string>): StackSettings {
    const problems: Problem[] = [];
    const values = namespaceValues(raw, problems);
    const notebooks = textOf(values, "notebooks");
    if (notebooks !== undefined) {
        return parseFleet(values, notebooks, problems);
    }
    const checked = checkSettings(values);
    problems.push(...checked.problems);
    if (problems.length > 0 || checked.settings === undefined) {
        throw new DeployRefused(problems);
    }
    return { kind: "single", settings: checked.settings };
}

/** This project's values of the raw config map, by key without the namespace; an unknown key is a problem. */
function namespaceValues(raw: Record<string, string>, problems: Problem[]): Map<string, string> {
    const values = new Map<string, string>();
    for (const [fullKey, value] of Object.entries(raw)) {
        const [namespace, key] = fullKey.includes(":") ? fullKey.split(":", 2) : [CONFIG_NAMESPACE, fullKey];
        if (namespace !== CONFIG_NAMESPACE) {
            const misplaced = misplacedKey(namespace, key);
            problems.push(...(misplaced ? [misplaced] : []));
            continue;
        }
        if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
            problems.push(unknownKey(key, CONFIG_KEYS, topLevelName));
            continue;
        }
        values.set(key, value);
    }
    return values;
}

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why each account key stays top-level, for the refusal of one inside an entry. */
const WHY_TOP_LEVEL: Record<AccountKey, string> = {
    monthlyBudgetUsd: "one budget covers the whole AWS account",
    alertEmail: "one budget covers the whole AWS account",
    requestQuotaIncrease: "quotas are the account's, and the stack asks for what all its notebooks need together",
    vpcId: "the notebooks of a stack share one network",
    subnetId: "the notebooks of a stack share one network",
};

/**
 * An entry's value as the text a top-level key holds: `pulumi config set --path` stores true,
 * false and whole numbers as JSON booleans and numbers, lists as lists.
 */
function entryText(value: unknown): string {
    return value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
}

/** The entries of `notebooks` with valid names and object values, sorted by name; the others are problems. */
function notebookEntries(text: string, problems: Problem[]): [string, Record<string, unknown>][] {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        parsed = undefined;
    }
    // The value is never shown: a notebook's own password makes all of it a secret.
    const example = `such as {"alice": {}, "bob": {"instanceType": "g5.xlarge"}}, or one key at a time: ` +
        `pulumi config set --path 'notebooks.alice.instanceType' g5.xlarge`;
    if (!isObject(parsed) || Object.keys(parsed).length === 0) {
        problems.push({
            key: "notebooks",
            message: `${CONFIG_NAMESPACE}:notebooks is not accepted: ` + (isObject(parsed)
                ? `it has no notebook; name at least one (${example}), or remove it for a stack of one notebook: pulumi config rm notebooks`
                : `an object of notebook names to their settings, ${example}`),
        });
        return [];
    }
    const entries: [string, Record<string, unknown>][] = [];
    for (const name of Object.keys(parsed).sort()) {
        const entry = parsed[name];
        if (!NOTEBOOK_NAME.test(name)) {
            problems.push({
                key: "notebooks", notebooks: [name],
                message: `${notebookPath(name)} is not accepted: a notebook's name has lowercase letters, digits and hyphens, ` +
                    `1 to 20 characters, starting with a letter, such as alice or team-3 (it ends resource names, tags and file names)`,
            });
        } else if (entry === null || entry === "" || isObject(entry)) {
            // `alice:` with nothing after it is YAML's null: a notebook with every default, like `alice: {}`.
            entries.push([name, isObject(entry) ? entry : {}]);
        } else {
            problems.push({
                key: "notebooks", notebooks: [name],
                message: `${notebookPath(name)} is not accepted: the notebook's own settings, such as {} for every default ` +
                    `or {"instanceType": "g5.xlarge"}`,
            });
        }
    }
    return entries;
}

/**
 * The top-level values an entry of `notebooks` inherits: all but the entries and the account's
 * budget, and the candidate types when the entry names its own (instanceType or instanceTypes).
 */
function inheritedValues(values: ConfigValues, own: ReadonlyMap<string, string>): [string, string][] {
    const ownTypes = own.has("instanceType") || own.has("instanceTypes");
    return [...values].filter(([key]) => !["notebooks", "monthlyBudgetUsd", "alertEmail"].includes(key) &&
        !(ownTypes && (key === "instanceType" || key === "instanceTypes")));
}

/** An entry's own values, as the text a top-level key holds; a key an entry may not set is a problem. */
function entryValues(name: string, entry: Record<string, unknown>, problems: Problem[]): Map<string, string> {
    const own = new Map<string, string>();
    for (const [key, value] of Object.entries(entry)) {
        if ((PER_NOTEBOOK_KEYS as readonly string[]).includes(key)) {
            own.set(key, entryText(value));
        } else if ((ACCOUNT_KEYS as readonly string[]).includes(key)) {
            problems.push({
                key, notebooks: [name],
                message: `${notebookPath(name, key)} = ${show(value)} is not accepted: ${WHY_TOP_LEVEL[key as AccountKey]}, ` +
                    `so it is set once, at the top level (${CONFIG_NAMESPACE}:${key}), for every notebook`,
            });
        } else {
            problems.push({ ...unknownKey(key, PER_NOTEBOOK_KEYS, (known) => notebookPath(name, known)), notebooks: [name] });
        }
    }
    return own;
}

/** A notebook as the config sets it, parsed by the deploy's rules but not validated. */
export interface ConfiguredNotebook {
    /** Its name in `notebooks`; "" for the one notebook of a stack without. */
    name: string;
    /** The keys it sets itself: its entry's, or in a stack of one notebook every key set. */
    ownKeys: ReadonlySet<string>;
    /** Its own values over the top-level ones over the defaults; a value that cannot be parsed keeps its default. */
    settings: NotebookSettings;
    /** The values that cannot be parsed, named as the user set them. */
    problems: Problem[];
}

/**
 * What the config asks for, for the scripts that list or change it (npm run notebooks, stop,
 * allow-my-ip): each notebook's settings by the rules the deploy uses, but not validated, so a
 * config the deploy would refuse can still be read and fixed. `problems`: those of the stack's
 * shape (unknown keys, bad names or entries of `notebooks`).
 */
export function configuredStack(raw: Record<string, string>): { kind: StackSettings["kind"]; notebooks: ConfiguredNotebook[]; problems: Problem[] } {
    const problems: Problem[] = [];
    const values = namespaceValues(raw, problems);
    const text = textOf(values, "notebooks");
    const layers = text === undefined
        ? [{ name: "", own: values, all: values }]
        : notebookEntries(text, problems).map(([name, entry]) => {
            const own = entryValues(name, entry, problems);
            return { name, own, all: new Map([...inheritedValues(values, own), ...own]) };
        });
    const notebooks = layers.map(({ name, own, all }) => {
        const unparsed: Problem[] = [];
        const settings = settingsFrom(all, unparsed);
        const ownKeys = new Set([...own.keys()].filter((key) => textOf(own, key as ConfigKey) !== undefined));
        return { name, ownKeys, settings, problems: name === "" ? unparsed : notebookProblems([{ name, ownKeys, problems: unparsed }]) };
    });
    return { kind: text === undefined ? "single" : "fleet", notebooks, problems };
}

/** A stack of several notebooks: each entry of `notebooks` over the top-level keys, the budget once. */
function parseFleet(values: ConfigValues, text: string, problems: Problem[]): StackSettings {
    const entries = notebookEntries(text, problems);
    const budgetParse: Problem[] = [];
    const budget = budgetOf(values, budgetParse);
    problems.push(...budgetParse, ...budgetProblems(budget).filter((p) => !budgetParse.some((parse) => parse.key === p.key)));

    const notebooks: NamedSettings[] = [];
    const found: NotebookProblems[] = [];
    for (const [name, entry] of entries) {
        const own = entryValues(name, entry, problems);
        const checked = checkSettings(new Map([...inheritedValues(values, own), ...own]));
        found.push({ name, ownKeys: new Set(own.keys()), problems: checked.problems });
        if (checked.settings) {
            notebooks.push({ name, settings: checked.settings, ownKeys: new Set(own.keys()) });
        }
    }
    problems.push(...notebookProblems(found));
    if (problems.length > 0) {
        throw new DeployRefused(problems);
    }
    const { monthlyBudgetUsd, alertEmail } = budget;
    return {
        kind: "fleet",
        notebooks,
        budget: monthlyBudgetUsd !== undefined && alertEmail !== undefined ? { monthlyBudgetUsd, alertEmail } : undefined,
    };
}

/** What was found wrong with one notebook of a stack of several. */
export interface NotebookProblems {
    name: string;
    /** The keys its entry sets itself. */
    ownKeys: ReadonlySet<string>;
    problems: Problem[];
}

/** Items as a sentence lists them: "a", "a and b", "a, b and c". */
export function inWords(items: string[]): string {
    return items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** "notebook alice", "notebooks alice and bob". */
function notebooksNamed(names: string[]): string {
    return `notebook${names.length === 1 ? "" : "s"} ${inWords(names)}`;
}

/**
 * The problems of a stack's notebooks as one list. A setting a notebook's entry sets is named by
 * its path in that entry. A problem of an inherited setting or of the account, which several
 * notebooks may share, is listed once, after the notebooks it concerns, or without names when
 * it concerns them all; those come first, as fixing the top level fixes them everywhere.
 */
export function notebookProblems(found: NotebookProblems[]): Problem[] {
    const shared = new Map<string, Problem & { notebooks: string[] }>();
    const own: Problem[] = [];
    for (const { name, ownKeys, problems } of found) {
        for (const each of problems) {
            const setting = topLevelName(each.key ?? "");
            if (each.key !== undefined && ownKeys.has(each.key) && each.message.startsWith(setting)) {
                own.push({ ...each, notebooks: [name], message: notebookPath(name, each.key) + each.message.slice(setting.length) });
                continue;
            }
            const id = `${each.key} ${each.message}`;
            const same = shared.get(id);
            if (same) {
                same.notebooks.push(name);
            } else {
                shared.set(id, { ...each, notebooks: [name] });
            }
        }
    }
    const everywhere = (names: string[]) => names.length === found.length && found.length > 1;
    return [
        ...[...shared.values()].map((p) => everywhere(p.notebooks) ? p : { ...p, message: `${notebooksNamed(p.notebooks)}: ${p.message}` }),
        ...own,
    ];
}

/** A stack of one notebook's settings from the raw config map (see parseStackConfig); refuses `notebooks`. Exported for tests. */
export function parseConfig(raw: Record<string, string>): NotebookSettings {
    const stack = parseStackConfig(raw);
    if (stack.kind !== "single") {
        throw new Error("parseConfig reads the config of a stack of one notebook; this one has notebooks (parseStackConfig reads it)");
    }
    return stack.settings;
}

/** Reads this project's namespace from the running stack's configuration. */
export function readConfig(): StackSettings {
    // Required here, not imported: the scripts parse config through this module, and the SDK
    // would double the time they take to start.
    const { runtime } = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    return parseStackConfig(runtime.allConfig());
}
