// The rules of each setting: what is accepted, and the refusal that names the key, the value and
// what would be accepted. validateSettings is the one way to ValidSettings, which is what the
// component builds from, so settings are checked once, where they are made.
import * as ipaddr from "ipaddr.js";

import { ConfigValues, settingsFrom } from "./parse";
import { DeployRefused, Problem, settingProblem } from "./problems";
import { ALLOW_MY_IP_COMMAND, ARM_GPU_FAMILIES, CONFIG_NAMESPACE, DEFAULTS, GPU_FAMILIES, isZoneName, NotebookSettings } from "./schema";
import { inWords, nearest, pulumiCommand } from "./words";
import { NOTIFY_EVENTS } from "../contract";

/** AWS allows 60 inbound rules per security group; each CIDR needs one per open port. */
const MAX_ALLOWED_CIDRS = 30;
const MIN_PASSWORD_LENGTH = 12;
/** Idle stop limits, in minutes: long enough to boot and log in, short enough to matter. */
const IDLE_STOP_MIN_MINUTES = 10;
/** At most 12 hours, so the CloudWatch backstop (twice as long) fits in its one-day window. */
const IDLE_STOP_MAX_MINUTES = 720;
const MAX_BUDGET_USD = 1_000_000;
const GP3_MAX_GIB = 16384;

// Type-only: nothing at run time carries it, so a copy ({...settings}) is plain NotebookSettings again.
declare const VALID: unique symbol;

/**
 * Settings validateSettings returned: valid, CIDRs normalised, frozen. The only way to make them
 * is validateSettings (config's parseStackConfig calls it), so whatever takes ValidSettings,
 * GpuNotebook among them, needs no check of its own and none is made twice.
 */
export type ValidSettings = Readonly<NotebookSettings> & { readonly [VALID]: true };

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

/** The networks: each a CIDR, each once, none the whole internet unasked; their canonical forms. */
function cidrProblems(settings: NotebookSettings, cidrs: string[]): Problem[] {
    const problems: Problem[] = [];
    if (settings.allowedCidrs.length === 0) {
        problems.push({
            key: "allowedCidrs",
            message: `${CONFIG_NAMESPACE}:allowedCidrs is not set. Only the networks you list can reach SSH and the notebook. ` +
                `To allow just the address you are at now, run:\n      ${ALLOW_MY_IP_COMMAND}\n    ` +
                `(npm run up does this for you when allowedCidrs is unset; or set networks yourself: ` +
                `${pulumiCommand("config set --path 'allowedCidrs[0]' 203.0.113.7/32")})`,
        });
    }
    for (const entry of settings.allowedCidrs) {
        const checked = checkCidr(entry);
        if ("error" in checked) {
            problems.push(settingProblem("allowedCidrs", entry, checked.error));
        } else if (cidrs.includes(checked.cidr)) {
            problems.push(settingProblem("allowedCidrs", entry, `${checked.cidr} is listed twice; list each network once`));
        } else if (isOpenToWorld(checked.cidr) && !settings.allowOpenAccess) {
            problems.push(settingProblem("allowedCidrs", entry,
                "it opens SSH and the notebook to the whole internet; list your own networks instead " +
                `(${ALLOW_MY_IP_COMMAND}), or set ${CONFIG_NAMESPACE}:allowOpenAccess to true if you really mean it`));
        } else {
            cidrs.push(checked.cidr);
        }
    }
    if (settings.allowedCidrs.length > MAX_ALLOWED_CIDRS) {
        problems.push(settingProblem("allowedCidrs", `${settings.allowedCidrs.length} entries`,
            `at most ${MAX_ALLOWED_CIDRS} networks (AWS allows 60 inbound rules per security group, two per network)`));
    }
    return problems;
}

/**
 * Validates typed settings. Throws one DeployRefused listing every bad value, each naming the
 * key, the value and what would be accepted. Returns the settings with CIDRs normalised, frozen.
 */
export function validateSettings(settings: NotebookSettings): ValidSettings {
    const cidrs: string[] = [];
    const problems: Problem[] = cidrProblems(settings, cidrs);

    problems.push(...instanceTypeProblems(settings));

    if (settings.amiId !== undefined && !isAwsId("ami", settings.amiId)) {
        problems.push(settingProblem("amiId", settings.amiId,
            "an AMI id such as ami-0123456789abcdef0, or leave it unset for the latest Deep Learning AMI"));
    }

    // The real minimum is the AMI's own size, which only the deploy knows (and checks).
    if (settings.diskSizeGb !== undefined &&
        (!Number.isInteger(settings.diskSizeGb) || settings.diskSizeGb < 1 || settings.diskSizeGb > GP3_MAX_GIB)) {
        problems.push(settingProblem("diskSizeGb", settings.diskSizeGb,
            `a whole number of GiB, at least the AMI's own size (the deploy looks it up and says it) and at most ${GP3_MAX_GIB}; ` +
            "leave it unset for a size that fits"));
    }

    const port = settings.notebookPort;
    if (!Number.isInteger(port) || port < 1024 || port > 65535) {
        problems.push(settingProblem("notebookPort", port,
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
        problems.push(settingProblem("sshUser", settings.sshUser,
            "a Linux user name (lower-case letters, digits, - and _, starting with a letter or _, at most 32 characters), not root"));
    }

    problems.push(...placementProblems(settings));
    // The component may be used from JavaScript or YAML, where nothing checks the type.
    if (typeof settings.exposeNotebook !== "boolean") {
        problems.push(settingProblem("exposeNotebook", settings.exposeNotebook,
            "true (the notebook port is open to allowedCidrs) or false (SSH only; reach the notebook through `npm run tunnel`)"));
    }
    const idle = settings.idleStopMinutes;
    if (!Number.isInteger(idle) || (idle !== 0 && (idle < IDLE_STOP_MIN_MINUTES || idle > IDLE_STOP_MAX_MINUTES))) {
        problems.push(settingProblem("idleStopMinutes", idle,
            `a whole number of minutes from ${IDLE_STOP_MIN_MINUTES} to ${IDLE_STOP_MAX_MINUTES}, or 0 to never stop an idle machine`));
    }

    problems.push(...budgetProblems(settings), ...unattendedProblems(settings));
    if (settings.spotFallback !== undefined && (settings.spotFallback !== "on-demand" || !settings.spot)) {
        problems.push(settingProblem("spotFallback", settings.spotFallback, settings.spotFallback === "on-demand"
            ? `only with ${CONFIG_NAMESPACE}:spot set to true (an on-demand notebook has nothing to fall back from); or unset it`
            : "on-demand (fall back to on-demand when no candidate has spot capacity), or unset for spot only"));
    }

    if (problems.length > 0) {
        throw new DeployRefused(problems);
    }
    return Object.freeze({
        ...settings, allowedCidrs: Object.freeze(cidrs) as string[], instanceTypes: Object.freeze([...settings.instanceTypes]),
        notifyOn: Object.freeze([...settings.notifyOn]),
    }) as ValidSettings;
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
    const single = types.length === 1 && !settings.typesListed;
    if (types.length === 0) {
        return [settingProblem("instanceTypes", [], `a list of one or more types, each ${GPU_TYPE_ACCEPTED}, in the order to try them; ` +
            `or unset it for ${DEFAULTS.instanceType}`)];
    }
    const problems: Problem[] = [];
    types.forEach((type, index) => {
        const why = typeRefusal(type);
        if (why !== undefined) {
            problems.push(single
                ? settingProblem("instanceType", type, `${GPU_TYPE_ACCEPTED} (${why})`)
                : settingProblem("instanceTypes", types, `${type} is refused (${why}); each candidate is ${GPU_TYPE_ACCEPTED}`));
        } else if (types.indexOf(type) !== index) {
            problems.push(settingProblem("instanceTypes", types, `${type} is listed twice; list each type once, in the order to try them`));
        }
    });
    const arm = types.filter(isArmGpuType);
    const x86 = types.filter((type) => typeRefusal(type) === undefined);
    if (arm.length > 0 && x86.length > 0) {
        problems.push(settingProblem("instanceTypes", types, `it mixes two architectures, x86_64 (${x86.join(", ")}) and arm64 ` +
            `(${arm.join(", ")}); one AMI runs one architecture, so list x86_64 types only`));
    }
    return problems;
}

/** One email address, as AWS Budgets and SNS take it: no spaces, no list. */
function isEmailAddress(text: string): boolean {
    return /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;.]+$/.test(text);
}

/** The largest grace a stop waits for each job: a stop that waits longer than an hour is a bill, not a grace. */
const MAX_GRACE_SECONDS = 3600;

/**
 * Notifications and what a stop gives a job: an email address, an https webhook (a secret: the
 * refusal names its scheme, never the URL), known event names, and whole numbers of minutes
 * and seconds.
 */
function unattendedProblems(settings: NotebookSettings): Problem[] {
    const problems: Problem[] = [];
    if (settings.notifyEmail !== undefined && !isEmailAddress(settings.notifyEmail)) {
        problems.push(settingProblem("notifyEmail", settings.notifyEmail, "one email address such as you@example.org"));
    }
    const webhook = settings.notifyWebhook;
    if (webhook !== undefined && !isHttpsUrl(webhook)) {
        const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(webhook)?.[1];
        problems.push({
            key: "notifyWebhook",
            message: `${CONFIG_NAMESPACE}:notifyWebhook (a secret, ${scheme ? `${scheme}: URL` : "not a URL"}) is not accepted: ` +
                "an https:// URL that takes a JSON POST, such as a Slack or Discord incoming webhook as they give it " +
                `(https://hooks.slack.com/services/…); set it with ${pulumiCommand("config set --secret notifyWebhook URL")}`,
        });
    }
    // The component may be used from JavaScript or YAML, where nothing checks the type.
    const events: readonly string[] = Array.isArray(settings.notifyOn) ? settings.notifyOn : [];
    const unknown = events.filter((event) => !(NOTIFY_EVENTS as readonly string[]).includes(event));
    const known = `the events ${NOTIFY_EVENTS.join(", ")} (default: every one but started)`;
    if (events.length === 0) {
        problems.push(settingProblem("notifyOn", settings.notifyOn, `a list of one or more of ${known}; ` +
            "to send nothing, unset notifyEmail and notifyWebhook"));
    } else if (unknown.length > 0) {
        const hints = unknown.map((event) => nearest(event, NOTIFY_EVENTS)).map((near, index) => near ? ` (${unknown[index]}: did you mean ${near}?)` : "");
        problems.push(settingProblem("notifyOn", events, `${inWords(unknown)} ${unknown.length === 1 ? "is not an event" : "are not events"}` +
            `${hints.join("")}; list some of ${known}`));
    }
    if (!Number.isInteger(settings.jobStallMinutes) || settings.jobStallMinutes < 0) {
        problems.push(settingProblem("jobStallMinutes", settings.jobStallMinutes,
            "a whole number of minutes from 1 up after which a job with no output, no CPU and no GPU use stops keeping the machine up, " +
            "or 0 for never (a hung job then keeps the machine up forever)"));
    }
    const grace = settings.jobStopGraceSeconds;
    if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
        problems.push(settingProblem("jobStopGraceSeconds", grace,
            `a whole number of seconds from 0 to ${MAX_GRACE_SECONDS} that a job gets between SIGTERM and SIGKILL when the machine stops`));
    }
    return problems;
}

/** An https URL with a host: where a webhook may be sent without the secret in clear on the way. */
function isHttpsUrl(text: string): boolean {
    try {
        const url = new URL(text);
        return url.protocol === "https:" && url.hostname !== "";
    } catch {
        return false;
    }
}

/** The account's budget: an amount and where its alerts go, both or neither. */
export function budgetProblems(
    { monthlyBudgetUsd: budget, alertEmail: email }: Pick<NotebookSettings, "monthlyBudgetUsd" | "alertEmail">,
): Problem[] {
    const problems: Problem[] = [];
    if (budget !== undefined && !(Number.isFinite(budget) && budget > 0 && budget <= MAX_BUDGET_USD)) {
        problems.push(settingProblem("monthlyBudgetUsd", budget, `an amount in USD above 0 and at most ${MAX_BUDGET_USD}, such as 50 or 49.99`));
    }
    if (email !== undefined && !isEmailAddress(email)) {
        problems.push(settingProblem("alertEmail", email, "one email address such as you@example.org"));
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

/** Data volume and network placement: formats here, agreement with AWS in preflight.ts. */
function placementProblems(settings: NotebookSettings): Problem[] {
    const problems: Problem[] = [];
    const size = settings.dataVolumeGb;
    if (!Number.isInteger(size) || size < 0 || size > GP3_MAX_GIB) {
        problems.push(settingProblem("dataVolumeGb", size,
            `a whole number of GiB from 1 to ${GP3_MAX_GIB} for the volume that keeps ~/notebooks, or 0 for none`));
    }
    const snapshot = settings.restoreFromSnapshotId;
    if (snapshot !== undefined && !isAwsId("snap", snapshot)) {
        problems.push(settingProblem("restoreFromSnapshotId", snapshot, "a snapshot id such as snap-0123456789abcdef0"));
    } else if (snapshot !== undefined && size === 0) {
        problems.push(settingProblem("restoreFromSnapshotId", snapshot,
            `only with a data volume to restore into; set ${CONFIG_NAMESPACE}:dataVolumeGb to at least the snapshot's size`));
    }
    if (settings.availabilityZone !== undefined && !isZoneName(settings.availabilityZone)) {
        problems.push(settingProblem("availabilityZone", settings.availabilityZone,
            "an availability zone name of the stack's region, such as us-east-1b, or leave it unset to have one chosen"));
    }
    if (settings.moveToZone !== undefined && !isZoneName(settings.moveToZone)) {
        problems.push(settingProblem("moveToZone", settings.moveToZone,
            "an availability zone name of the stack's region that offers one of the candidate types, such as us-east-1c (npm run move -- --zone ZONE sets it)"));
    } else if (settings.moveToZone !== undefined && size === 0) {
        problems.push(settingProblem("moveToZone", settings.moveToZone,
            `only with a data volume to move: with ${CONFIG_NAMESPACE}:dataVolumeGb 0 the work lives on the root disk, which a move does not keep`));
    }
    if (settings.subnetId !== undefined && !isAwsId("subnet", settings.subnetId)) {
        problems.push(settingProblem("subnetId", settings.subnetId, "a subnet id such as subnet-0123456789abcdef0"));
    }
    if (settings.vpcId !== undefined && !isAwsId("vpc", settings.vpcId)) {
        problems.push(settingProblem("vpcId", settings.vpcId, "a VPC id such as vpc-0123456789abcdef0"));
    }
    return problems;
}

/**
 * Parses and validates one notebook's config values: every problem they have, the values that
 * cannot be parsed first, then the other keys' (so one run shows all to fix); the settings when
 * there is none.
 */
export function checkValues(values: ConfigValues): { settings?: ValidSettings; problems: Problem[] } {
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
