// The AWS lookups the program makes before it creates anything (the price's are in pricing.ts),
// and the one list of invoke tokens the offline mocks answer (an unknown token fails the run).
import * as ebs from "@pulumi/aws/ebs";
import * as ec2 from "@pulumi/aws/ec2";
import { getRegion } from "@pulumi/aws/getRegion";
import * as servicequotas from "@pulumi/aws/servicequotas";
import type { Market } from "./config";

/** The invoke tokens this module uses; the mocks answer exactly these. */
export const INVOKE_TOKENS = {
    getAmi: "aws:ec2/getAmi:getAmi",
    getRegion: "aws:index/getRegion:getRegion",
    getInstanceType: "aws:ec2/getInstanceType:getInstanceType",
    getInstanceTypeOfferings: "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings",
    getServiceQuota: "aws:servicequotas/getServiceQuota:getServiceQuota",
    getVpcs: "aws:ec2/getVpcs:getVpcs",
    getSubnets: "aws:ec2/getSubnets:getSubnets",
    getSubnet: "aws:ec2/getSubnet:getSubnet",
    getEbsVolumes: "aws:ebs/getEbsVolumes:getEbsVolumes",
    getVolume: "aws:ebs/getVolume:getVolume",
    getSnapshot: "aws:ebs/getSnapshot:getSnapshot",
    getInstances: "aws:ec2/getInstances:getInstances",
    getInstance: "aws:ec2/getInstance:getInstance",
    getProduct: "aws:pricing/getProduct:getProduct",
    getSpotPrice: "aws:ec2/getSpotPrice:getSpotPrice",
    getEips: "aws:ec2/getEips:getEips",
} as const;

/**
 * The latest x86_64 Deep Learning AMI with PyTorch on Ubuntu and the OSS NVIDIA driver, which
 * supports every family config/ accepts. (ARM64 images are named "Deep Learning ARM64 AMI …".)
 */
export const DEEP_LEARNING_AMI_NAME = "Deep Learning OSS Nvidia Driver AMI GPU PyTorch * (Ubuntu 24.04) *";

export interface AmiInfo {
    id: string;
    name: string;
    /** Size of the AMI's root snapshot in GiB: the smallest root disk it boots from. */
    rootSizeGb: number;
}

/** Root disk room beyond the AMI for packages, datasets and checkpoints, in GiB. */
const ROOT_DISK_HEADROOM_GB = 50;
/** The smallest default root disk, in GiB. */
const MIN_DEFAULT_DISK_GB = 150;

/** Root disk size used when diskSizeGb is unset: the AMI plus headroom, at least 150 GiB. */
export function defaultDiskSizeGb(ami: AmiInfo): number {
    return Math.max(MIN_DEFAULT_DISK_GB, ami.rootSizeGb + ROOT_DISK_HEADROOM_GB);
}

function rootSizeOf(result: ec2.GetAmiResult): number {
    const root = result.blockDeviceMappings.find((mapping) => mapping.deviceName === result.rootDeviceName)
        ?? result.blockDeviceMappings.find((mapping) => mapping.ebs !== undefined);
    const ebs: Record<string, string | number> = root?.ebs ?? {};
    const size = Number(ebs.volume_size ?? ebs.volumeSize);
    if (!Number.isFinite(size) || size <= 0) {
        throw new Error(`AMI ${result.id} (${result.name}) reports no root volume size`);
    }
    return size;
}

/** Looks up the pinned AMI, or the latest Deep Learning AMI when none is pinned. */
export async function lookupAmi(amiId: string | undefined): Promise<AmiInfo> {
    const result = amiId
        ? await ec2.getAmi({ filters: [{ name: "image-id", values: [amiId] }] })
        : await ec2.getAmi({
            owners: ["amazon"],
            mostRecent: true,
            filters: [
                { name: "name", values: [DEEP_LEARNING_AMI_NAME] },
                { name: "architecture", values: ["x86_64"] },
                { name: "state", values: ["available"] },
            ],
        });
    return { id: result.id, name: result.name, rootSizeGb: rootSizeOf(result) };
}

/** What an instance type has: vCPUs (what the GPU quotas count), memory and GPUs, for the quota and the plan. */
export interface TypeInfo {
    instanceType: string;
    vcpus: number;
    /** Instance memory in MiB. */
    memoryMiB: number;
    /** Its GPUs: how many, which, and the memory of each in MiB (AWS reports one entry per model). */
    gpus: { count: number; name: string; memoryMiB: number }[];
}

export async function lookupTypeInfo(instanceType: string): Promise<TypeInfo> {
    const result = await ec2.getInstanceType({ instanceType });
    return {
        instanceType,
        vcpus: result.defaultVcpus,
        memoryMiB: result.memorySize,
        gpus: (result.gpuses ?? []).map((gpu) => ({ count: gpu.count, name: `${gpu.manufacturer} ${gpu.name}`.trim(), memoryMiB: gpu.memorySize })),
    };
}

/** "1 × NVIDIA A10G (24 GiB)": a type's GPUs as the plan and the logs show them. */
export function gpuSummary(info: TypeInfo): string {
    return info.gpus.length === 0 ? "no GPU reported"
        : info.gpus.map((gpu) => `${gpu.count} × ${gpu.name} (${Math.round(gpu.memoryMiB / 1024)} GiB)`).join(", ");
}

/** Zones of the current region that offer the type, sorted by name. */
export async function lookupOfferingZones(instanceType: string): Promise<string[]> {
    const result = await ec2.getInstanceTypeOfferings({
        locationType: "availability-zone",
        filters: [{ name: "instance-type", values: [instanceType] }],
    });
    return [...new Set(result.locations)].sort();
}

/** Instance types of the given families offered anywhere in the current region, sorted. */
export async function lookupTypesInRegion(families: readonly string[]): Promise<string[]> {
    const result = await ec2.getInstanceTypeOfferings({
        locationType: "region",
        filters: [{ name: "instance-type", values: families.map((family) => `${family}.*`) }],
    });
    return [...new Set(result.instanceTypes)].sort();
}

/** The first `lines` non-empty lines of a failed lookup's message, on one line, for a warning. */
export function failureText(error: unknown, lines = 3): string {
    const text = error instanceof Error ? error.message : String(error);
    return text.split("\n").map((line) => line.trim()).filter((line) => line.length > 0).slice(0, lines).join(" ");
}

/** Current value of an EC2 quota, or the reason it could not be read (permissions, region). */
export async function lookupEc2Quota(quotaCode: string): Promise<{ value: number } | { unreadable: string }> {
    try {
        const quota = await servicequotas.getServiceQuota({ serviceCode: "ec2", quotaCode });
        return { value: quota.value };
    } catch (error) {
        return { unreadable: failureText(error, 1) || "unknown error" };
    }
}

/** The region's default VPC, if the account still has one. */
export async function lookupDefaultVpcId(): Promise<string | undefined> {
    const result = await ec2.getVpcs({ filters: [{ name: "is-default", values: ["true"] }] });
    return [...result.ids].sort()[0];
}

export interface SubnetInfo {
    id: string;
    vpcId: string;
    zone: string;
}

export async function lookupSubnet(subnetId: string): Promise<SubnetInfo> {
    const subnet = await ec2.getSubnet({ id: subnetId });
    return { id: subnet.id, vpcId: subnet.vpcId, zone: subnet.availabilityZone };
}

/**
 * Subnets of a VPC in one zone, sorted by id so the choice is the same on every run. With
 * `defaultOnly`, only the zone's default subnet (a default VPC has at most one per zone).
 */
export async function lookupSubnetIds(vpcId: string, zone: string, defaultOnly: boolean): Promise<string[]> {
    const result = await ec2.getSubnets({
        filters: [
            { name: "vpc-id", values: [vpcId] },
            { name: "availability-zone", values: [zone] },
            ...(defaultOnly ? [{ name: "default-for-az", values: ["true"] }] : []),
        ],
    });
    return [...result.ids].sort();
}

/** Tag that marks a notebook's data volume, so a later run finds it (and its zone) again. */
export const DATA_VOLUME_TAG = "gpu-notebook-data";

/**
 * Tags a move (npm run move, preflight.ts decideMove) puts on data volumes, so a later run knows
 * where a move stands from the account alone: the volume a move made carries the id of the one it
 * was copied from; the volume moved away from, once the copy is attached, is marked for removal.
 */
export const MOVED_FROM_TAG = "gpu-notebook-moved-from";
export const MOVED_AWAY_TAG = "gpu-notebook-moved-away";

export interface ExistingVolume {
    id: string;
    zone: string;
    sizeGb: number;
    snapshotId: string;
    /** When AWS began creating it (RFC 3339): a volume made in this very run holds nothing yet. */
    createTime?: string;
    /** Attached to a machine. Default true: only a move asks. */
    inUse?: boolean;
    /** A move made it from this volume (MOVED_FROM_TAG). */
    movedFrom?: string;
    /** A finished move left it, to be removed (MOVED_AWAY_TAG). */
    movedAway?: boolean;
}

/** Data volumes carrying the notebook's tag that are not being deleted. */
export async function lookupDataVolumes(tagValue: string): Promise<ExistingVolume[]> {
    const found = await ebs.getEbsVolumes({
        filters: [
            { name: `tag:${DATA_VOLUME_TAG}`, values: [tagValue] },
            { name: "status", values: ["creating", "available", "in-use"] },
        ],
    });
    if (found.ids.length === 0) {
        return [];
    }
    // Whether each is attached matters only to a move, which has two; one volume needs no second call.
    const attached = found.ids.length > 1
        ? new Set((await ebs.getEbsVolumes({
            filters: [{ name: `tag:${DATA_VOLUME_TAG}`, values: [tagValue] }, { name: "status", values: ["in-use"] }],
        })).ids)
        : undefined;
    const volumes: ExistingVolume[] = [];
    for (const id of [...found.ids].sort()) {
        const volume = await ebs.getVolume({ filters: [{ name: "volume-id", values: [id] }] });
        const tags = volume.tags ?? {};
        volumes.push({
            id, zone: volume.availabilityZone, sizeGb: volume.size, snapshotId: volume.snapshotId, createTime: volume.createTime,
            ...(attached ? { inUse: attached.has(id) } : {}),
            ...(tags[MOVED_FROM_TAG] ? { movedFrom: tags[MOVED_FROM_TAG] } : {}),
            ...(tags[MOVED_AWAY_TAG] ? { movedAway: true } : {}),
        });
    }
    return volumes;
}

export interface ExistingInstance {
    id: string;
    zone: string;
    /** Its type: an existing machine keeps it (a start never changes it unasked). */
    instanceType?: string;
    /** EC2's state name (pending, running, stopping, stopped): a move needs it stopped. */
    state?: string;
    /** How it is bought: a machine keeps its market (spotFallback's on-demand one stays on-demand). */
    market?: Market;
}

/** Instances (not terminated) carrying the notebook's tags: where a notebook already runs. */
export async function lookupInstances(tags: Record<string, string>): Promise<ExistingInstance[]> {
    const found = await ec2.getInstances({
        instanceTags: tags,
        instanceStateNames: ["pending", "running", "stopping", "stopped"],
    });
    // getInstance does not say how a machine is bought; a filter on the lifecycle does.
    const spot = found.ids.length === 0 ? new Set<string>() : new Set((await ec2.getInstances({
        instanceTags: tags,
        instanceStateNames: ["pending", "running", "stopping", "stopped"],
        filters: [{ name: "instance-lifecycle", values: ["spot"] }],
    })).ids);
    const instances: ExistingInstance[] = [];
    for (const id of [...found.ids].sort()) {
        const instance = await ec2.getInstance({ instanceId: id });
        instances.push({
            id, zone: instance.availabilityZone, instanceType: instance.instanceType, state: instance.instanceState,
            market: spot.has(id) ? "spot" : "on-demand",
        });
    }
    return instances;
}

/** Size in GiB of a snapshot to restore; fails when the snapshot is not visible to the account. */
export async function lookupSnapshotSizeGb(snapshotId: string): Promise<number> {
    return (await ebs.getSnapshot({ snapshotIds: [snapshotId] })).volumeSize;
}

/** The region the stack deploys to (from `aws:region` or the environment, as the provider sees it). */
export async function lookupRegion(): Promise<string> {
    const result = await getRegion({});
    return result.region ?? result.name;
}

/** The Elastic IPs the account holds in the region, and how many of them a stack's notebooks hold already. */
export type HeldAddresses = { count: number; ownedByNotebooks: number } | { unreadable: string };

/**
 * Counts the account's Elastic IPs in the current region, and those tagged with the stack's tags
 * and one of the given Name tags (notebook labels): the addresses those notebooks already have.
 * A failed lookup (say, without ec2:DescribeAddresses) is returned as the reason.
 */
export async function lookupElasticIps(stackTags: Record<string, string>, names: string[]): Promise<HeldAddresses> {
    try {
        const [all, owned] = await Promise.all([
            ec2.getEips({}),
            ec2.getEips({ tags: stackTags, filters: [{ name: "tag:Name", values: names }] }),
        ]);
        return { count: all.publicIps.length, ownedByNotebooks: owned.publicIps.length };
    } catch (error) {
        return { unreadable: failureText(error, 1) || "unknown error" };
    }
}
