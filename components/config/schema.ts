// What the stack's configuration is: its keys, the settings a notebook is built from, and the
// defaults the code applies. Data and types only; parse.ts reads them, validate.ts checks them.
import { DEFAULT_NOTIFY_EVENTS, NotifyEvent } from "../contract";

export const CONFIG_NAMESPACE = "gpu-notebook";

/** Regional zones (us-east-1a) and Local Zones (us-east-1-bos-1a): availabilityZone, moveToZone, npm run move --zone. */
export function isZoneName(text: string): boolean {
    return /^[a-z]{2}(-[a-z]+)+-\d+(-[a-z]+-\d+)?[a-z]$/.test(text);
}

/** x86_64 NVIDIA GPU families the AWS Deep Learning AMIs (OSS NVIDIA driver) support. */
export const GPU_FAMILIES = [
    "g4dn", "g5", "g6", "g6e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200",
] as const;

/**
 * GPU families built on Arm (Graviton) processors: the x86_64 Deep Learning AMI cannot run them, and
 * one AMI runs one architecture, so a list of candidates may not mix them with the families above.
 */
export const ARM_GPU_FAMILIES = ["g5g"] as const;

/** Settings a notebook is built from: every field already validated and defaulted. */
export interface NotebookSettings {
    /** Networks that may reach SSH and the notebook, normalised CIDRs (IPv4 or IPv6). */
    allowedCidrs: string[];
    /** Explicit opt-in to ports open to the whole internet (0.0.0.0/0 or ::/0). Default false. */
    allowOpenAccess: boolean;
    /**
     * Candidate EC2 instance types, tried in this order when EC2 has no capacity for the one
     * before (a new machine; a stopped one changes type only when asked: `npm run start -- --type`).
     * NVIDIA GPU types of one architecture, each once. Default [g4dn.xlarge], the cheapest.
     * Config `instanceType` means a list of one; config `instanceTypes` sets the whole list.
     */
    instanceTypes: readonly string[];
    /**
     * True when config `instanceTypes` set the candidates: a refusal then names that key, even
     * for a list of one. False or absent: config `instanceType` (a list of one) or the default,
     * and a refusal of that one type names instanceType, the key the user wrote.
     */
    typesListed?: boolean;
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
    /**
     * Where the machine's notifications go by email: an SNS topic of this notebook with this
     * address subscribed (AWS mails a confirmation first). Undefined: no email, and without
     * notifyWebhook no topic at all.
     */
    notifyEmail?: string;
    /**
     * An https URL the machine POSTs each notification to as JSON with `text` (Slack) and
     * `content` (Discord). A secret: kept in an SSM SecureString only this machine may read.
     * Undefined: no webhook.
     */
    notifyWebhook?: string;
    /** The events notified (contract.ts NOTIFY_EVENTS). Default: every one but "started". */
    notifyOn: readonly NotifyEvent[];
    /**
     * Minutes a running job may show no new output, no CPU and no GPU use before it is stalled:
     * notified once, and no longer keeping the machine up. Default 60. 0: never stalled, a job
     * keeps the machine up however long it hangs.
     */
    jobStallMinutes: number;
    /** Seconds a job gets between SIGTERM and SIGKILL when the machine stops (capped on spot). Default 60. */
    jobStopGraceSeconds: number;
    /** Monthly AWS budget in USD for the account; alerts go to alertEmail. Undefined: no budget. */
    monthlyBudgetUsd?: number;
    /** Where budget alerts go; required together with monthlyBudgetUsd. */
    alertEmail?: string;
}

/** The first of the candidate types: the one a new machine tries first. */
export function firstType(settings: Pick<NotebookSettings, "instanceTypes">): string {
    return settings.instanceTypes[0];
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
    notifyOn: DEFAULT_NOTIFY_EVENTS,
    jobStallMinutes: 60,
    jobStopGraceSeconds: 60,
} as const;

/** Every key this program reads; anything else in the namespace is a typo worth stopping for. Exported for tests. */
export const CONFIG_KEYS = [
    "allowedCidrs", "allowOpenAccess", "instanceType", "instanceTypes", "spotFallback", "amiId", "diskSizeGb",
    "notebookPort", "notebookPassword", "sshUser", "exposeNotebook",
    "idleStopMinutes", "running", "spot", "monthlyBudgetUsd", "alertEmail",
    "notifyEmail", "notifyWebhook", "notifyOn", "jobStallMinutes", "jobStopGraceSeconds",
    "dataVolumeGb", "restoreFromSnapshotId", "availabilityZone", "moveToZone", "subnetId", "vpcId", "requestQuotaIncrease",
    "notebooks",
] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/**
 * Keys of the whole account, or of the stack's one network: top-level only, never in an entry of
 * `notebooks`. One budget covers the account; a quota request is the account's; the notebooks of
 * a stack share its network.
 */
export const ACCOUNT_KEYS = ["monthlyBudgetUsd", "alertEmail", "requestQuotaIncrease", "vpcId", "subnetId"] as const;
export type AccountKey = (typeof ACCOUNT_KEYS)[number];

/** Keys an entry of `notebooks` may set for its notebook alone: every key but the account's. */
export const PER_NOTEBOOK_KEYS = CONFIG_KEYS.filter((key): key is Exclude<ConfigKey, AccountKey | "notebooks"> =>
    key !== "notebooks" && !(ACCOUNT_KEYS as readonly string[]).includes(key));

/** A key's full name, as `pulumi config` lists it: gpu-notebook:instanceType. */
export function settingName(key: string): string {
    return `${CONFIG_NAMESPACE}:${key}`;
}

/** How a user allows the address they are at now: the one place that does it is that script. */
export const ALLOW_MY_IP_COMMAND = "npm run allow-my-ip";
