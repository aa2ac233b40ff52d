// What gets checked against the AWS account before anything is created, so a launch that cannot
// work is refused with an explanation instead of failing half-way: the GPU vCPU quota, the zone
// (one that offers the type and keeps the notebook's data where it is), the network, the data
// volume and the root disk. `preflight` does the lookups into AccountFacts; every decision is a
// pure function of those facts (decideLaunch and the functions it calls), tested with tables.
import * as pulumi from "@pulumi/pulumi";

import {
    AmiInfo, defaultDiskSizeGb, ExistingInstance, ExistingVolume, lookupAmi, lookupDataVolumes, lookupDefaultVpcId,
    lookupEc2Quota, lookupInstances, lookupOfferingZones, lookupRegion, lookupSnapshotSizeGb, lookupSubnet,
    lookupSubnetIds, lookupTypeInfo, lookupTypesInRegion, SubnetInfo, TypeInfo,
} from "./aws-data";
import { Candidate, candidateOrder, CapacityHints, NO_HINTS, onDemandRefusal } from "./capacity";
import { CONFIG_NAMESPACE, DeployRefused, firstType, GPU_FAMILIES, inWords, Market, NotebookSettings, pulumiCommand, UP_COMMAND } from "./config";

/** An EC2 quota in Service Quotas. */
export interface Ec2Quota {
    code: string;
    name: string;
}

/**
 * The EC2 Service Quotas quota that counts the vCPUs of a GPU type: the G and VT families share
 * one, the P families another, and spot has its own pair. Exported for tests.
 */
export function vcpuQuotaFor(instanceType: string, market: Market): Ec2Quota {
    const isP = instanceType.startsWith("p");
    if (market === "spot") {
        return isP
            ? { code: "L-7212CCBC", name: "All P Spot Instance Requests" }
            : { code: "L-3819A6DF", name: "All G and VT Spot Instance Requests" };
    }
    return isP
        ? { code: "L-417A185B", name: "Running On-Demand P instances" }
        : { code: "L-DB2E81BA", name: "Running On-Demand G and VT instances" };
}

/** The addresses a region lets an account hold, 5 unless AWS raised it; each notebook keeps one. */
export const ELASTIC_IP_QUOTA: Ec2Quota = { code: "L-0263D0A3", name: "EC2-VPC Elastic IPs" };

function quotaConsoleUrl(region: string, quota: Ec2Quota): string {
    return `https://${region}.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/${quota.code}`;
}

/** A quota's current value, or why it could not be read. */
export type QuotaReading = { value: number } | { unreadable: string };

/** What one notebook counts against its vCPU quota. */
export interface VcpuDemand {
    /** The notebook's name, in a stack of several notebooks. */
    notebook?: string;
    instanceType: string;
    vcpus: number;
}

export interface QuotaFacts {
    /** The notebooks that count against the one quota (vcpuQuotaFor is the same for each). */
    demands: VcpuDemand[];
    market: Market;
    region: string;
    /** The quota's current value in vCPUs, or why it could not be read. */
    current: QuotaReading;
    requestIncrease: boolean;
}

export type QuotaDecision =
    | { kind: "enough" }
    | { kind: "unknown"; warning: string }
    | { kind: "request"; quota: Ec2Quota; value: number; warning: string };

function describeQuota(quota: Ec2Quota, region: string): string {
    return `the AWS quota "${quota.name}" (${quota.code}) in ${region}`;
}

/** The increase this program files when requestQuotaIncrease is set, and what it means for the launch. */
function requestedIncrease(quota: Ec2Quota, region: string, from: number, to: number, unit: string, until: string): QuotaDecision {
    return {
        kind: "request",
        quota,
        value: to,
        warning: `Requesting an increase of ${describeQuota(quota, region)} from ${from} to ${to} ${unit} ` +
            `(${CONFIG_NAMESPACE}:requestQuotaIncrease is true). AWS must approve it: small increases often within ` +
            `minutes, sometimes after days, and AWS may ask for a use case by e-mail. Until it is approved ${until}; ` +
            `run \`${UP_COMMAND}\` again once it is. Status: ${quotaConsoleUrl(region, quota)} (Quota request history).`,
    };
}

/** How to get a quota raised to at least `total`: by hand in the console, or by this program. */
function howToAsk(quota: Ec2Quota, region: string, total: number): string {
    return `Ask AWS for at least ${total}: ` +
        `Service Quotas console → AWS services → Amazon Elastic Compute Cloud (Amazon EC2) → "${quota.name}" → ` +
        `Request increase at account level (${quotaConsoleUrl(region, quota)}), in region ${region}; ` +
        `or let this program file the request: \`${pulumiCommand(`config set ${CONFIG_NAMESPACE}:requestQuotaIncrease true`)}\`. ` +
        `AWS approves increases from minutes to days; then run \`${UP_COMMAND}\` again.`;
}

/** "g4dn.xlarge needs 4 vCPUs"; for named notebooks, who needs what, together. */
function vcpuNeed(demands: VcpuDemand[], total: number): string {
    const [only] = demands;
    if (demands.length === 1 && only.notebook === undefined) {
        return `${only.instanceType} needs ${only.vcpus} vCPUs`;
    }
    const who = demands.map((demand) => `${demand.notebook} (${demand.instanceType})`);
    return demands.length === 1
        ? `notebook ${who[0]} needs ${total} vCPUs`
        : `notebooks ${inWords(who)} need ${total} vCPUs together`;
}

/**
 * Compares the quota with the vCPUs of every notebook it counts; refuses (the account's quota)
 * when too low and not requesting, naming the total, the quota and the notebooks.
 */
export function decideQuota(facts: QuotaFacts): QuotaDecision {
    const quota = vcpuQuotaFor(facts.demands[0].instanceType, facts.market);
    const described = describeQuota(quota, facts.region);
    const total = facts.demands.reduce((sum, demand) => sum + demand.vcpus, 0);
    const needs = vcpuNeed(facts.demands, total);
    if ("unreadable" in facts.current) {
        return {
            kind: "unknown",
            warning: `Could not read ${described} (${facts.current.unreadable}); continuing without checking it. ` +
                `${needs}; if the launch fails with VcpuLimitExceeded, that quota is lower: see ${quotaConsoleUrl(facts.region, quota)}. ` +
                `Allowing servicequotas:GetServiceQuota lets this program check it first.`,
        };
    }
    const value = facts.current.value;
    if (value >= total) {
        return { kind: "enough" };
    }
    if (facts.requestIncrease) {
        return requestedIncrease(quota, facts.region, value, total, "vCPUs", "the machine cannot start (VcpuLimitExceeded)");
    }
    throw DeployRefused.account(`${needs} of ${described}, but that quota is ${value} vCPUs. ${howToAsk(quota, facts.region, total)}`);
}

/** What decides whether a stack's notebooks get their Elastic IPs. */
export interface AddressFacts {
    region: string;
    /** The stack's notebooks: each keeps one Elastic IP. */
    notebooks: number;
    /** Addresses the account holds in the region (this stack's included), or why they could not be listed. */
    held: { count: number; ownedByNotebooks: number } | { unreadable: string };
    quota: QuotaReading;
    requestIncrease: boolean;
}

/**
 * Checks that the account may hold an address for every notebook that has none yet, besides the
 * ones it holds; a notebook that already has its address needs no new one, so running the same
 * stack again never counts its own addresses twice.
 */
export function decideAddresses(facts: AddressFacts): QuotaDecision {
    const quota = ELASTIC_IP_QUOTA;
    const described = describeQuota(quota, facts.region);
    if ("unreadable" in facts.held || "unreadable" in facts.quota) {
        const why = "unreadable" in facts.held ? facts.held.unreadable : "unreadable" in facts.quota ? facts.quota.unreadable : "";
        return {
            kind: "unknown",
            warning: `Could not check ${described} (${why}); continuing without checking it. Each of the ` +
                `${facts.notebooks} notebooks keeps an Elastic IP, and AWS allows 5 per region unless raised; if the launch fails ` +
                `with AddressLimitExceeded, see ${quotaConsoleUrl(facts.region, quota)}. Allowing ec2:DescribeAddresses and ` +
                `servicequotas:GetServiceQuota lets this program check it first.`,
        };
    }
    const { count: held, ownedByNotebooks } = facts.held;
    const wanted = facts.notebooks - ownedByNotebooks;
    const total = held + wanted;
    const value = facts.quota.value;
    if (wanted <= 0 || total <= value) {
        return { kind: "enough" };
    }
    if (facts.requestIncrease) {
        return requestedIncrease(quota, facts.region, value, total, "addresses", "the new notebooks get no address (AddressLimitExceeded)");
    }
    throw DeployRefused.account(
        `the stack's ${facts.notebooks} notebooks keep an Elastic IP each (their stable address), and ${wanted} of them ${wanted === 1 ? "has" : "have"} none yet; ` +
        `the account already holds ${held} in ${facts.region}, so it would hold ${total}, over ${described}, which is ${value}. ` +
        `${howToAsk(quota, facts.region, total)} Or release addresses nothing uses: \`aws ec2 describe-addresses --region ` +
        `${facts.region}\` lists them, and one without an AssociationId is attached to nothing.`,
    );
}

/** Where the notebook runs. `create` means no usable VPC exists: a minimal public one is made. */
export type Network =
    | { kind: "existing"; vpcId: string; subnetId: string }
    | { kind: "create" };

export interface Placement {
    zone: string;
    /** Why this zone, for the log. */
    reason: string;
    network: Network;
}

/** What preflight looked up about one candidate type. */
export interface TypeFacts {
    info: TypeInfo;
    /** Zones of the region that offer it, sorted. */
    offeringZones: string[];
    /** Its vCPU quota's current value, per market the notebook may use. */
    quotas: Partial<Record<Market, QuotaReading>>;
}

/** Everything preflight looked up in the account; the decisions below read nothing else. */
export interface AccountFacts {
    /** Every candidate type (instanceTypes), by type. The fields below describe the first. */
    types?: Record<string, TypeFacts>;
    /** The region the stack deploys to. */
    region: string;
    /** The AMI the instance will run. */
    ami: AmiInfo;
    /** vCPUs of the instance type: what the GPU quotas count. */
    vcpus: number;
    /** The vCPU quota's current value, or why it could not be read. */
    quota: QuotaReading;
    /** Zones of the region that offer the instance type, sorted. */
    offeringZones: string[];
    /** GPU types offered somewhere in the region, looked up only when this one is offered nowhere. */
    typesInRegion?: string[];
    /** The subnet subnetId names. */
    subnet?: SubnetInfo;
    /** Data volumes tagged as this notebook's: what an earlier run made. */
    volumes: ExistingVolume[];
    /** Instances tagged as this notebook's. */
    instances: ExistingInstance[];
    /** Size of restoreFromSnapshotId, looked up when a volume is to be created from it. */
    snapshotSizeGb?: number;
    /**
     * The VPC to find a subnet in when subnetId is unset: vpcId, else the region's default VPC;
     * absent when there is neither (a minimal one is then created).
     */
    vpc?: { id: string; isDefault: boolean };
    /** That VPC's subnets (only its default ones, for the default VPC) in each offering zone, sorted by id. */
    subnetsByZone: Record<string, string[]>;
}

function offeredNowhere(instanceType: string, facts: AccountFacts): DeployRefused {
    const families = [...new Set((facts.typesInRegion ?? []).map((type) => type.split(".")[0]))];
    const here = families.length > 0
        ? `GPU families offered in ${facts.region}: ${families.join(", ")} (for example ${facts.typesInRegion?.[0]})`
        : `no supported GPU family is offered in ${facts.region}`;
    return DeployRefused.setting("instanceType", instanceType,
        `it is not offered in any zone of ${facts.region}. ${here}. To find a region that has it: ` +
        `aws ec2 describe-instance-type-offerings --location-type region --filters Name=instance-type,Values=${instanceType} --region <region> ` +
        `(GPU types are most widely offered in us-east-1, us-east-2 and us-west-2), then \`${pulumiCommand("config set aws:region <region>")}\``);
}

/**
 * The zone the notebook is bound to, if anything binds it: a zone that already holds the
 * notebook's data volume wins over everything, so changing the type never moves the data; an
 * explicit subnetId or availabilityZone comes next; then the zone its machine already runs in.
 * Undefined when nothing binds it. Refuses a binding the instance type (one of the candidates) cannot meet.
 */
function boundZone(settings: NotebookSettings, instanceType: string, facts: AccountFacts): { zone: string; reason: string } | undefined {
    const { region, offeringZones, subnet, volumes: [existingVolume], instances: [existingInstance] } = facts;
    if (settings.availabilityZone !== undefined && !settings.availabilityZone.startsWith(region)) {
        throw DeployRefused.setting("availabilityZone", settings.availabilityZone,
            `a zone of the stack's region ${region}, such as ${offeringZones[0] ?? `${region}a`}`);
    }
    if (subnet && settings.availabilityZone !== undefined && subnet.zone !== settings.availabilityZone) {
        throw DeployRefused.setting("availabilityZone", settings.availabilityZone,
            `the subnet ${subnet.id} (${CONFIG_NAMESPACE}:subnetId) is in ${subnet.zone}; set one or the other, or both alike`);
    }
    if (subnet && settings.vpcId !== undefined && subnet.vpcId !== settings.vpcId) {
        throw DeployRefused.setting("vpcId", settings.vpcId,
            `the subnet ${subnet.id} (${CONFIG_NAMESPACE}:subnetId) belongs to ${subnet.vpcId}; set one or the other, or both alike`);
    }
    const requested = subnet
        ? { zone: subnet.zone, reason: `the zone of subnet ${subnet.id}`, key: "subnetId" as const, value: subnet.id }
        : settings.availabilityZone !== undefined
            ? { zone: settings.availabilityZone, reason: "availabilityZone", key: "availabilityZone" as const, value: settings.availabilityZone }
            : undefined;

    if (existingVolume) {
        if (requested && requested.zone !== existingVolume.zone) {
            throw DeployRefused.setting(requested.key, requested.value,
                `the notebook's data volume ${existingVolume.id} (your ~/notebooks) is in ${existingVolume.zone}, and a volume ` +
                `cannot follow the machine to ${requested.zone}. Keep ${existingVolume.zone}, or move the notebook there with ` +
                `\`npm run move -- --zone ${requested.zone}\` (its data volume goes by snapshot), or by hand: ` +
                `\`${pulumiCommand("destroy")}\` keeps a final snapshot of it, then set ${CONFIG_NAMESPACE}:restoreFromSnapshotId to that ` +
                `snapshot and \`${UP_COMMAND}\` in the new zone (see the README, "Getting your work back")`);
        }
        if (!offeringZones.includes(existingVolume.zone)) {
            throw DeployRefused.setting("instanceType", instanceType,
                `it is not offered in ${existingVolume.zone}, where the notebook's data volume ${existingVolume.id} (your ~/notebooks) ` +
                `is; ${offeringZones.length > 0 ? `it is offered in ${offeringZones.join(", ")}` : `it is offered nowhere in ${region}`}. ` +
                `Choose a type offered in ${existingVolume.zone}, or move the data: \`${pulumiCommand("destroy")}\` keeps a final snapshot, ` +
                `then set ${CONFIG_NAMESPACE}:restoreFromSnapshotId to it and \`${UP_COMMAND}\` (see the README, "Getting your work back")`);
        }
        return { zone: existingVolume.zone, reason: `the zone of the notebook's data volume ${existingVolume.id}` };
    }
    if (offeringZones.length === 0) {
        throw offeredNowhere(instanceType, facts);
    }
    if (requested) {
        if (!offeringZones.includes(requested.zone)) {
            throw DeployRefused.setting(requested.key, requested.value,
                `${instanceType} is not offered in ${requested.zone}; zones of ${region} that offer it: ${offeringZones.join(", ")}`);
        }
        return { zone: requested.zone, reason: requested.reason };
    }
    if (existingInstance) {
        if (!offeringZones.includes(existingInstance.zone)) {
            throw DeployRefused.setting("instanceType", instanceType,
                `it is not offered in ${existingInstance.zone}, where the notebook's machine ${existingInstance.id} runs ` +
                `(it is offered in ${offeringZones.join(", ")}). Choose a type offered in ${existingInstance.zone}, or set ` +
                `${CONFIG_NAMESPACE}:availabilityZone to one of those zones, which replaces the machine: copy your work off its disk first`);
        }
        return { zone: existingInstance.zone, reason: `the zone the notebook's machine ${existingInstance.id} runs in` };
    }
    return undefined;
}

/**
 * Chooses the zone and the network: the bound zone (boundZone) if there is one, else the first
 * zone, by name, that offers the type and, in the default VPC, has a default subnet; then the
 * subnet (subnetId's, else the VPC's first in that zone, by id), or a VPC to create when the
 * region has none. Refuses when the choice cannot work. `instanceType`: the candidate to place,
 * the first by default. Exported for tests.
 */
export function choosePlacement(settings: NotebookSettings, facts: AccountFacts, instanceType = firstType(settings)): Placement {
    const { region, offeringZones, subnet, vpc, subnetsByZone } = facts;
    const bound = boundZone(settings, instanceType, facts);
    if (subnet && bound) {
        return { ...bound, network: { kind: "existing", vpcId: subnet.vpcId, subnetId: subnet.id } };
    }
    const firstOffering = { zone: offeringZones[0], reason: `the first zone of ${region} that offers ${instanceType}` };
    if (vpc === undefined) {
        return { ...(bound ?? firstOffering), network: { kind: "create" } };
    }
    if (bound === undefined && vpc.isDefault) {
        // A default VPC can lack a subnet in a newer zone: take the first offering zone it covers.
        const zone = offeringZones.find((candidate) => (subnetsByZone[candidate] ?? []).length > 0);
        if (zone === undefined) {
            throw DeployRefused.account(`the default VPC ${vpc.id} of ${region} has no default subnet in any zone that offers ` +
                `${instanceType} (${offeringZones.join(", ")}). Create one with \`aws ec2 create-default-subnet ` +
                `--availability-zone ${offeringZones[0]}\`, or set ${CONFIG_NAMESPACE}:subnetId.`);
        }
        return {
            zone,
            reason: `the first zone of ${region} that offers ${instanceType} and has a default subnet`,
            network: { kind: "existing", vpcId: vpc.id, subnetId: subnetsByZone[zone][0] },
        };
    }
    const { zone, reason } = bound ?? firstOffering;
    const [subnetId] = subnetsByZone[zone] ?? [];
    if (subnetId === undefined) {
        throw vpc.isDefault
            ? DeployRefused.account(`the default VPC ${vpc.id} of ${region} has no default subnet in ${zone}. Create it with ` +
                `\`aws ec2 create-default-subnet --availability-zone ${zone}\`, or set ${CONFIG_NAMESPACE}:subnetId.`)
            : DeployRefused.setting("vpcId", vpc.id, `it has no subnet in ${zone}; set ${CONFIG_NAMESPACE}:subnetId to a public subnet of it, ` +
                `or ${CONFIG_NAMESPACE}:availabilityZone to a zone where it has one`);
    }
    return { zone, reason, network: { kind: "existing", vpcId: vpc.id, subnetId } };
}

/**
 * Checks the data volume settings against the volume that already exists, so no config change
 * deletes or shrinks it. Returns warnings to show; throws a DeployRefused when refused. Exported for tests.
 */
export function checkDataVolume(settings: NotebookSettings, facts: Pick<AccountFacts, "volumes" | "instances" | "snapshotSizeGb">): string[] {
    const [existing, ...others] = facts.volumes;
    if (others.length > 0) {
        throw DeployRefused.account(`more than one data volume is tagged as this notebook's: ` +
            `${facts.volumes.map((volume) => `${volume.id} (${volume.zone})`).join(", ")}. Keep the one with your work, ` +
            `and remove the tag of the others (or delete them) before running again.`);
    }
    if (!existing) {
        if (facts.snapshotSizeGb !== undefined && settings.dataVolumeGb < facts.snapshotSizeGb) {
            throw DeployRefused.setting("dataVolumeGb", settings.dataVolumeGb,
                `at least ${facts.snapshotSizeGb}, the size of the snapshot ${settings.restoreFromSnapshotId} (${CONFIG_NAMESPACE}:restoreFromSnapshotId)`);
        }
        const [machine] = facts.instances;
        if (settings.dataVolumeGb > 0 && machine) {
            // The boot configuration gains the mount, and boot configuration changes replace the machine.
            return [`Adding a data volume to the running notebook ${machine.id} replaces its machine: files on its ` +
                `root disk, ~/notebooks included, are NOT carried over. If you have work there, answer "no" now, copy it off ` +
                `(rsync -a -e "ssh -i <key>" <user>@<ip>:notebooks/ ./notebooks-backup/), run \`${UP_COMMAND}\` again and copy it back ` +
                `onto the new ~/notebooks. (${CONFIG_NAMESPACE}:dataVolumeGb = 0 keeps the machine as it is.)`];
        }
        return [];
    }
    if (settings.dataVolumeGb === 0) {
        throw DeployRefused.setting("dataVolumeGb", 0,
            `the notebook has a data volume, ${existing.id} (${existing.sizeGb} GiB), which holds your ~/notebooks; 0 would ` +
            `delete it. Set it back to ${existing.sizeGb} (or more). To remove the volume on purpose, \`${pulumiCommand("destroy")}\` ` +
            `deletes it after taking a final snapshot`);
    }
    if (settings.dataVolumeGb < existing.sizeGb) {
        throw DeployRefused.setting("dataVolumeGb", settings.dataVolumeGb,
            `${existing.sizeGb} or more: the data volume ${existing.id} is ${existing.sizeGb} GiB and EBS volumes cannot shrink`);
    }
    const restore = settings.restoreFromSnapshotId;
    if (restore !== undefined && restore !== existing.snapshotId) {
        return [`${CONFIG_NAMESPACE}:restoreFromSnapshotId = ${restore} is only used when the data volume is created; the ` +
            `existing data volume ${existing.id} is kept unchanged. To restore that snapshot in its place, \`${pulumiCommand("destroy")}\` ` +
            `(which keeps a final snapshot of ${existing.id}) and \`${UP_COMMAND}\` again.`];
    }
    return [];
}

/** The root disk size: diskSizeGb, or one that fits the AMI; refuses a diskSizeGb the AMI does not fit in. Exported for tests. */
export function rootDiskSize(settings: NotebookSettings, ami: AmiInfo): number {
    if (settings.diskSizeGb === undefined) {
        return defaultDiskSizeGb(ami);
    }
    if (settings.diskSizeGb < ami.rootSizeGb) {
        throw DeployRefused.setting("diskSizeGb", settings.diskSizeGb,
            `the AMI ${ami.id} (${ami.name}) needs at least ${ami.rootSizeGb} GiB; ` +
            `use ${defaultDiskSizeGb(ami)} or more, or leave it unset`);
    }
    return settings.diskSizeGb;
}

/** What preflight decided: everything the component needs to build without further lookups. */
export interface PreflightResult {
    region: string;
    ami: AmiInfo;
    /** Root disk size in GiB. */
    rootDiskGb: number;
    placement: Placement;
    /**
     * The GPU vCPU quota the notebook counts against, the vCPUs it needs and the quota's value:
     * what a stack of several notebooks adds up per quota.
     */
    vcpus: { quota: Ec2Quota; needed: number; current: QuotaReading };
    /** The vCPU quota increase to file (QuotaCheck "this notebook" only). */
    quotaRequest?: { quota: Ec2Quota; value: number };
    warnings: string[];
    /** The candidate this run tries (type, zone, market) and those left after it. */
    capacity: CandidateChoice;
    /** What the chosen type has (GPUs, memory), when looked up. */
    typeInfo?: TypeInfo;
    /** Every candidate type left after the quota check, with what it has, for the plan. */
    types: Record<string, TypeInfo | undefined>;
    /** A volume made by this run's failed first launch, which follows the machine to its zone. */
    freshVolume?: ExistingVolume;
    /** Where a move to moveToZone stands; undefined when there is none (decideMove). */
    move?: MoveStep;
    /** The data volume that exists and stays as it is (no move under way). */
    dataVolume?: ExistingVolume;
    /** EC2's state of the notebook's machine, when it has one (a move's, before it is recreated): running.ts decideRunning. */
    machineState?: string;
}

/**
 * Who decides on a notebook's vCPU quota: the notebook alone, or the stack, which adds up what
 * all its notebooks need from each quota (and then files one request per quota).
 */
export type QuotaCheck = "this notebook" | "the stack";

/** The markets a notebook tries, in order: spot falls back to on-demand only when asked. */
export function marketsOf(settings: Pick<NotebookSettings, "spot" | "spotFallback">): Market[] {
    return settings.spot ? (settings.spotFallback === "on-demand" ? ["spot", "on-demand"] : ["spot"]) : ["on-demand"];
}

/** The facts of one candidate type in the shape the single-type decisions read. */
function factsOfType(facts: AccountFacts, instanceType: string, market: Market): AccountFacts {
    const type = facts.types?.[instanceType];
    return type ? { ...facts, vcpus: type.info.vcpus, quota: type.quotas[market] ?? facts.quota, offeringZones: type.offeringZones } : facts;
}

/**
 * Drops the candidate types no quota can run (each with a warning); refuses, naming them all, when
 * none is left. One candidate keeps the single-type decision (decideQuota) with its request. Exported for tests.
 */
export function runnableTypes(settings: NotebookSettings, market: Market, facts: AccountFacts, warnings: string[]): string[] {
    const types = settings.instanceTypes;
    if (types.length <= 1 || settings.requestQuotaIncrease) {
        return [...types];
    }
    const overQuota = types.flatMap((instanceType) => {
        const { vcpus, quota } = factsOfType(facts, instanceType, market);
        return "value" in quota && quota.value < vcpus
            ? [{ instanceType, text: `${instanceType} needs ${vcpus} vCPUs of ${describeQuota(vcpuQuotaFor(instanceType, market), facts.region)}, which is ${quota.value}` }]
            : [];
    });
    const runnable = types.filter((type) => !overQuota.some((over) => over.instanceType === type));
    if (runnable.length === 0) {
        throw DeployRefused.account(`no candidate of ${CONFIG_NAMESPACE}:instanceTypes fits the account's quotas: ` +
            `${overQuota.map((over) => over.text).join("; ")}. ${howToAsk(vcpuQuotaFor(types[0], market), facts.region, factsOfType(facts, types[0], market).vcpus)}`);
    }
    for (const over of overQuota) {
        warnings.push(`${over.instanceType} is left out of the candidates (${CONFIG_NAMESPACE}:instanceTypes): ${over.text}. ` +
            `The others are tried: ${inWords(runnable)}.`);
    }
    return runnable;
}

/** The candidate a run launches (or starts), and the order it came from. */
export interface CandidateChoice {
    chosen: Candidate;
    /** Every candidate still worth trying in this run, chosen first. */
    order: Candidate[];
    /** Candidates EC2 said were full in this run. */
    full: string[];
}

/**
 * Decides the candidate: the first of candidateOrder. Refuses when every candidate was full in
 * this run, listing them, with what helps. Exported for tests.
 */
export function chooseCandidate(
    settings: NotebookSettings, facts: AccountFacts, types: string[], hints: CapacityHints, boundZone: string | undefined,
): CandidateChoice {
    const [existing] = facts.instances;
    if (hints.requestedType !== undefined && !settings.instanceTypes.includes(hints.requestedType)) {
        throw DeployRefused.setting("instanceTypes", settings.instanceTypes, `it does not list ${hints.requestedType}, the type asked for ` +
            `(--type); choose one of ${settings.instanceTypes.join(", ")}, or add it to ${CONFIG_NAMESPACE}:instanceTypes first`);
    }
    const onDemand = hints.requestedMarket === "on-demand" ? onDemandRefusal(settings) : undefined;
    if (onDemand) {
        throw DeployRefused.setting(onDemand.key, onDemand.value, onDemand.accepted);
    }
    const usableZones = facts.vpc?.isDefault ? Object.keys(facts.subnetsByZone).filter((zone) => facts.subnetsByZone[zone].length > 0) : undefined;
    const order = candidateOrder({
        types,
        offeringZones: Object.fromEntries(types.map((type) => [type, facts.types?.[type]?.offeringZones ?? facts.offeringZones])),
        usableZones: usableZones && usableZones.length > 0 ? usableZones : undefined,
        boundZone,
        currentType: existing?.instanceType,
        requestedType: hints.requestedType,
        currentMarket: existing?.market,
        requestedMarket: hints.requestedMarket,
        markets: marketsOf(settings),
        full: hints.full,
    });
    const full = [...hints.full];
    if (order.length === 0) {
        if (full.length === 0) {
            // Nothing full: no candidate is offered where the notebook is bound; the single-type refusals say why.
            throw DeployRefused.setting(settings.instanceTypes.length > 1 ? "instanceTypes" : "instanceType",
                settings.instanceTypes.length > 1 ? settings.instanceTypes : firstType(settings),
                `none of them is offered in ${boundZone ?? facts.region}, where the notebook is`);
        }
        const where = boundZone ?? facts.region;
        throw DeployRefused.account(`no GPU free right now: EC2 had no capacity for ${inWords(full.map((key) => key.replace(/\//g, " ")))}, ` +
            `and no other candidate is left in ${where}. Try again later (npm run start -- --wait 30)` +
            (existing ? `, or change the stopped machine to another candidate type in its zone (npm run start -- --type TYPE)`
                : `, or add types to ${CONFIG_NAMESPACE}:instanceTypes`));
    }
    return { chosen: order[0], order, full };
}

/**
 * Where a move of the notebook's data to moveToZone (npm run move) stands. Decided from the
 * account alone, so the same config run again continues a move that failed half-way, and
 * finishes one that worked; nothing about the move is kept anywhere but in AWS and Pulumi's state.
 *   - copy: the data is still on `source`: a snapshot of it, a volume from that snapshot in the new
 *     zone, and the machine recreated there and attached to it. The source and the snapshot stay.
 *   - confirm: the copy is attached (the machine booted there with it): the source is tagged as
 *     moved away, a change of tags only. Nothing is deleted in the run that first sees the copy
 *     attached.
 *   - finish: the source (tagged) and the snapshot are deleted. Like every data volume the source
 *     takes a final snapshot as it goes: its finalSnapshot is never switched off, because the
 *     provider turns that change into a ModifyVolume EC2 refuses. The user is told to delete it.
 * Undefined when there is nothing to move: no moveToZone, or the data is in that zone already.
 * A move that failed may be sent elsewhere: the copy it made is then left out (deleted).
 */
export type MoveStep =
    | { kind: "copy"; source: ExistingVolume; to: string }
    | { kind: "confirm" | "finish"; source: ExistingVolume; copy: ExistingVolume; to: string };

/** EC2 states in which a machine is, or is about to be, running: a move needs it stopped. */
const AWAKE = ["pending", "running", "stopping"];

/**
 * Decides the move's step (MoveStep) and refuses a move that cannot work: a zone of another
 * region or one no candidate is offered in, one that contradicts availabilityZone or subnetId, a
 * machine that is running. `offering`: the zones that offer a candidate type. Exported for tests.
 */
export function decideMove(
    settings: NotebookSettings, facts: Pick<AccountFacts, "region" | "volumes" | "instances" | "subnet">, offering: string[], notebookName?: string,
): MoveStep | undefined {
    const to = settings.moveToZone;
    if (to === undefined) {
        return undefined;
    }
    const types = inWords([...settings.instanceTypes]);
    if (!to.startsWith(facts.region) || !offering.includes(to)) {
        throw DeployRefused.setting("moveToZone", to, `a zone of the stack's region ${facts.region} that offers one of the candidate types ` +
            `(${types}): ${offering.length > 0 ? offering.join(", ") : "none does"}`);
    }
    if (facts.subnet && facts.subnet.zone !== to) {
        throw DeployRefused.setting("moveToZone", to, `the zone of the subnet ${facts.subnet.id} (${CONFIG_NAMESPACE}:subnetId), ` +
            `${facts.subnet.zone}; a move to another zone needs a subnet there: ${pulumiCommand("config rm subnetId")}, or set it to one in ${to}`);
    }
    if (settings.availabilityZone !== undefined && settings.availabilityZone !== to) {
        throw DeployRefused.setting("moveToZone", to, `${CONFIG_NAMESPACE}:availabilityZone, ${settings.availabilityZone}, or that ` +
            `setting removed (${pulumiCommand("config rm availabilityZone")}): the two name where the notebook runs`);
    }
    const kept = withoutAbandonedCopies(facts.volumes, to);
    const away = kept.filter((volume) => volume.zone !== to);
    const here = kept.filter((volume) => volume.zone === to);
    if (away.length === 0) {
        return undefined;
    }
    if (away.length > 1 || here.length > 1) {
        throw DeployRefused.account(`the move to ${to} (${CONFIG_NAMESPACE}:moveToZone) found more than one data volume tagged as this ` +
            `notebook's: ${facts.volumes.map((volume) => `${volume.id} (${volume.zone})`).join(", ")}. Keep the one with your work, ` +
            `and remove the tag of the others (or delete them) before running again.`);
    }
    const [source] = away;
    const [copy] = here;
    if (copy === undefined || !copy.inUse) {
        const awake = facts.instances.find((instance) => instance.zone !== to && AWAKE.includes(instance.state ?? ""));
        if (awake) {
            const which = notebookName === undefined ? "" : ` -- --notebook ${notebookName}`;
            throw DeployRefused.account(`the notebook's machine ${awake.id} is running in ${awake.zone}, and a move to ${to} ` +
                `(${CONFIG_NAMESPACE}:moveToZone) copies its data volume while nothing writes to it: stop it first with ` +
                `\`npm run stop${which}\`, then move it. Nothing was changed.`);
        }
        return { kind: "copy", source, to };
    }
    return { kind: source.movedAway ? "finish" : "confirm", source, copy, to };
}

/**
 * The volumes without the copies that an unfinished move to a zone other than `to` made (not
 * attached, their source beside them): such a copy holds nothing its source does not, so a move
 * elsewhere, or back (which cancels it), leaves it out, and it is deleted (with the final snapshot
 * every data volume takes).
 */
function withoutAbandonedCopies(volumes: ExistingVolume[], to: string | undefined): ExistingVolume[] {
    return to === undefined ? volumes : volumes.filter((volume) => volume.zone === to || volume.inUse !== false ||
        !volumes.some((other) => other.id === volume.movedFrom));
}

/**
 * The account as the placement decisions should see it during a move: the data in the new zone
 * (so the notebook is bound there) and no machine elsewhere (it is recreated).
 */
function factsForMove(facts: AccountFacts, move: MoveStep): AccountFacts {
    const data = move.kind === "copy" ? { ...move.source, zone: move.to } : move.copy;
    return { ...facts, volumes: [data], instances: facts.instances.filter((instance) => instance.zone === move.to) };
}

/** Every decision preflight makes, from the facts alone; refusals in the order a user would fix them. */
function decideLaunch(
    settings: NotebookSettings, market: Market, found: AccountFacts, quotaCheck: QuotaCheck, hints: CapacityHints, notebookName?: string,
): PreflightResult {
    const offering = [...new Set(settings.instanceTypes.flatMap((type) => found.types?.[type]?.offeringZones ?? found.offeringZones))].sort();
    const move = decideMove(settings, found, offering, notebookName);
    const facts = move ? factsForMove(found, move)
        : withoutFreshVolume({ ...found, volumes: withoutAbandonedCopies(found.volumes, settings.moveToZone) }, hints);
    if (!move && settings.moveToZone !== undefined && settings.availabilityZone === undefined) {
        // Nothing to move (a first launch, or the move is done): the zone to run in, as availabilityZone would be.
        settings = { ...settings, availabilityZone: settings.moveToZone };
    }
    const warnings = checkDataVolume(settings, facts);
    const types = runnableTypes(settings, market, facts, warnings);
    // The zone the notebook is bound to, by the first type that can be placed there (each type's refusal otherwise).
    let bound: { zone: string; reason: string } | undefined;
    let placeable = types;
    if (types.length > 1) {
        const refusals: DeployRefused[] = [];
        placeable = types.filter((type) => {
            try {
                bound = boundZone(settings, type, factsOfType(facts, type, market)) ?? bound;
                return true;
            } catch (error) {
                if (!(error instanceof DeployRefused)) {
                    throw error;
                }
                refusals.push(error);
                return false;
            }
        });
        if (placeable.length === 0) {
            throw refusals[0];
        }
    } else {
        bound = boundZone(settings, types[0], factsOfType(facts, types[0], market));
    }
    const choice = chooseCandidate(settings, facts, placeable, hints, bound?.zone);
    const { chosen } = choice;
    const typeFacts = factsOfType(facts, chosen.instanceType, chosen.market);
    const placement = choosePlacement(settings,
        { ...typeFacts, offeringZones: [chosen.zone, ...typeFacts.offeringZones.filter((zone) => zone !== chosen.zone)] }, chosen.instanceType);
    let quotaRequest: PreflightResult["quotaRequest"];
    if (quotaCheck === "this notebook") {
        const quotaDecision = decideQuota({
            demands: [{ instanceType: chosen.instanceType, vcpus: typeFacts.vcpus }], market: chosen.market, region: facts.region,
            current: typeFacts.quota, requestIncrease: settings.requestQuotaIncrease,
        });
        if (quotaDecision.kind !== "enough") {
            warnings.push(quotaDecision.warning);
        }
        if (quotaDecision.kind === "request") {
            quotaRequest = { quota: quotaDecision.quota, value: quotaDecision.value };
        }
    }
    const rootDiskGb = rootDiskSize(settings, facts.ami);
    const vcpus = { quota: vcpuQuotaFor(chosen.instanceType, chosen.market), needed: typeFacts.vcpus, current: typeFacts.quota };
    return {
        region: facts.region, ami: facts.ami, rootDiskGb, placement, vcpus, quotaRequest, warnings, capacity: choice,
        typeInfo: facts.types?.[chosen.instanceType]?.info,
        freshVolume: found.volumes.length > 0 && facts.volumes.length === 0 ? found.volumes[0] : undefined,
        move, dataVolume: move ? undefined : facts.volumes[0], machineState: found.instances[0]?.state,
        types: Object.fromEntries(types.map((type) => [type, facts.types?.[type]?.info]).filter(([, info]) => info !== undefined)),
    };
}

/**
 * A data volume this run made for a first launch that then found no capacity: no machine of the
 * notebook exists, the volume was created after the driver started this run, and EC2 said its
 * zone was full. It holds nothing, so it follows the machine to the zone it gets (it is
 * replaced there) instead of binding the notebook to a full zone. Anything else binds as before.
 */
function withoutFreshVolume(facts: AccountFacts, hints: CapacityHints): AccountFacts {
    const [volume] = facts.volumes;
    const started = hints.runStarted;
    if (!volume || facts.volumes.length > 1 || facts.instances.length > 0 || started === undefined) {
        return facts;
    }
    const made = Date.parse(volume.createTime ?? "");
    const zoneFull = [...hints.full].some((key) => key.startsWith(`${volume.zone}/`));
    return Number.isFinite(made) && made >= started && zoneFull ? { ...facts, volumes: [] } : facts;
}

/** How preflight finds what an earlier run of this notebook left in the account. */
export interface EarlierRunTags {
    /** Tags the notebook's instance carries (Name, project, stack). */
    instanceTags: Record<string, string>;
    /** Value of the data volume's tag (DATA_VOLUME_TAG). */
    dataVolumeTag: string;
}

/**
 * Runs a lookup, or hands back the answer an earlier call with the same key got: the notebooks of
 * one stack share the answers about the account (region, AMI, quotas, zones, subnets), so a class
 * of fifty asks AWS once instead of fifty times. Each call of sharedLookups makes a new store.
 */
export type Lookups = <T>(key: string, lookup: () => Promise<T>) => Promise<T>;

export function sharedLookups(): Lookups {
    const answers = new Map<string, Promise<unknown>>();
    return <T>(key: string, lookup: () => Promise<T>) => {
        if (!answers.has(key)) {
            answers.set(key, lookup());
        }
        return answers.get(key) as Promise<T>;
    };
}

const eachTime: Lookups = (_key, lookup) => lookup();

/** Looks up everything decideLaunch needs. A lookup that shows a setting is wrong refuses here. */
async function lookUpAccount(settings: NotebookSettings, market: Market, earlier: EarlierRunTags, once: Lookups): Promise<AccountFacts> {
    const { instanceTypes, amiId, subnetId, vpcId, restoreFromSnapshotId } = settings;
    const markets = marketsOf(settings);
    const region = await once("region", lookupRegion);
    const [ami, typeFacts, subnet, volumes, instances, defaultVpcId] = await Promise.all([
        once(`ami ${amiId}`, () => lookupAmi(amiId)),
        Promise.all(instanceTypes.map(async (instanceType): Promise<TypeFacts> => {
            const [info, offeringZones, readings] = await Promise.all([
                once(`type ${instanceType}`, () => lookupTypeInfo(instanceType)),
                once(`zones ${instanceType}`, () => lookupOfferingZones(instanceType)),
                Promise.all(markets.map((each) => {
                    const code = vcpuQuotaFor(instanceType, each).code;
                    return once(`quota ${code}`, () => lookupEc2Quota(code));
                })),
            ]);
            return { info, offeringZones, quotas: Object.fromEntries(markets.map((each, index) => [each, readings[index]])) };
        })),
        subnetId !== undefined ? once(`subnet ${subnetId}`, () => lookupSubnet(subnetId)).catch(() => {
            throw DeployRefused.setting("subnetId", subnetId, `no subnet with that id exists in ${region} for this account; ` +
                `list yours with \`aws ec2 describe-subnets --region ${region}\``);
        }) : Promise.resolve(undefined),
        lookupDataVolumes(earlier.dataVolumeTag),
        lookupInstances(earlier.instanceTags),
        subnetId === undefined && vpcId === undefined ? once("default VPC", lookupDefaultVpcId) : Promise.resolve(undefined),
    ]);
    const types = Object.fromEntries(instanceTypes.map((type, index) => [type, typeFacts[index]]));
    const first = typeFacts[0];
    const offeringZones = first.offeringZones;
    const everyZone = [...new Set(typeFacts.flatMap((type) => type.offeringZones))].sort();
    const vpc = subnet !== undefined ? undefined
        : vpcId !== undefined ? { id: vpcId, isDefault: false }
            : defaultVpcId !== undefined ? { id: defaultVpcId, isDefault: true } : undefined;
    const [snapshotSizeGb, typesInRegion, subnetIds] = await Promise.all([
        restoreFromSnapshotId !== undefined && volumes.length === 0
            ? once(`snapshot ${restoreFromSnapshotId}`, () => lookupSnapshotSizeGb(restoreFromSnapshotId)).catch(() => {
                throw DeployRefused.setting("restoreFromSnapshotId", restoreFromSnapshotId,
                    `no snapshot with that id is visible to this account in ${region}; list yours with ` +
                    `\`aws ec2 describe-snapshots --owner-ids self --region ${region}\` (a snapshot from another region must be copied here first)`);
            })
            : Promise.resolve(undefined),
        offeringZones.length === 0 ? once("GPU types in the region", () => lookupTypesInRegion(GPU_FAMILIES)) : Promise.resolve(undefined),
        Promise.all(vpc === undefined ? [] : everyZone.map((zone) =>
            once(`subnets ${vpc.id} ${zone} ${vpc.isDefault}`, () => lookupSubnetIds(vpc.id, zone, vpc.isDefault)))),
    ]);
    const subnetsByZone = Object.fromEntries(subnetIds.map((ids, index) => [everyZone[index], ids]));
    return {
        region, ami, vcpus: first.info.vcpus, quota: first.quotas[market] ?? { unreadable: "not looked up" }, offeringZones, types,
        typesInRegion, subnet, volumes, instances, snapshotSizeGb, vpc, subnetsByZone,
    };
}

/** How a notebook is checked when it is one of several. */
export interface PreflightOptions {
    /** Default "this notebook". */
    quotaCheck?: QuotaCheck;
    /** Default: every lookup asked each time. */
    lookups?: Lookups;
    /** What the driver (npm run up / start) says about capacity in this run. Default: nothing. */
    hints?: CapacityHints;
    /** The notebook's name in a stack of several, for the commands a refusal names (--notebook NAME). */
    notebookName?: string;
}

/**
 * Looks up the account's facts and decides quota, zone, network, data volume and root disk.
 * Every refusal is thrown from here, before any resource exists.
 */
export async function preflight(
    settings: NotebookSettings, market: Market, earlier: EarlierRunTags, options: PreflightOptions = {},
): Promise<PreflightResult> {
    const facts = await lookUpAccount(settings, market, earlier, options.lookups ?? eachTime);
    return decideLaunch(settings, market, facts, options.quotaCheck ?? "this notebook", options.hints ?? NO_HINTS, options.notebookName);
}

/** Shows preflight warnings in the `pulumi up` output. */
export function reportWarnings(warnings: string[], resource?: pulumi.Resource): void {
    for (const warning of warnings) {
        pulumi.log.warn(warning, resource);
    }
}
