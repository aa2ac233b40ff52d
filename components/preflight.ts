// What gets checked against the AWS account before anything is created, so a launch that cannot
// work is refused with an explanation instead of failing half-way: the GPU vCPU quota, the zone
// (one that offers the type and keeps the notebook's data where it is), the network and the data
// volume. The decisions are pure functions of what the lookups found; `preflight` does the lookups.
import * as pulumi from "@pulumi/pulumi";

import {
    ExistingInstance, ExistingVolume, lookupDataVolumes, lookupDefaultVpcId, lookupEc2Quota, lookupInstances,
    lookupOfferingZones, lookupRegion, lookupSnapshotSizeGb, lookupSubnet, lookupSubnetIds, lookupTypesInRegion,
    lookupVcpus, SubnetInfo,
} from "./aws-data";
import { CONFIG_NAMESPACE, ConfigKey, DeployRefused, GPU_FAMILIES, Market, NotebookSettings, problem } from "./config";

export interface VcpuQuota {
    code: string;
    name: string;
}

/**
 * The EC2 Service Quotas quota that counts the vCPUs of a GPU type: the G and VT families share
 * one, the P families another, and spot has its own pair.
 */
export function vcpuQuotaFor(instanceType: string, market: Market): VcpuQuota {
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

export function quotaConsoleUrl(region: string, quota: VcpuQuota): string {
    return `https://${region}.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/${quota.code}`;
}

export interface QuotaFacts {
    instanceType: string;
    market: Market;
    region: string;
    vcpus: number;
    /** The quota's current value in vCPUs, or why it could not be read. */
    current: { value: number } | { unreadable: string };
    requestIncrease: boolean;
}

export type QuotaDecision =
    | { kind: "enough" }
    | { kind: "unknown"; warning: string }
    | { kind: "request"; quota: VcpuQuota; value: number; warning: string };

/** Compares the quota with the type's vCPUs; refuses (the account's quota) when too low and not requesting. */
export function decideQuota(facts: QuotaFacts): QuotaDecision {
    const quota = vcpuQuotaFor(facts.instanceType, facts.market);
    const described = `the AWS quota "${quota.name}" (${quota.code}) in ${facts.region}`;
    const needs = `${facts.instanceType} needs ${facts.vcpus} vCPUs`;
    if ("unreadable" in facts.current) {
        return {
            kind: "unknown",
            warning: `Could not read ${described} (${facts.current.unreadable}); continuing without checking it. ` +
                `${needs}; if the launch fails with VcpuLimitExceeded, that quota is lower: see ${quotaConsoleUrl(facts.region, quota)}. ` +
                `Allowing servicequotas:GetServiceQuota lets this program check it first.`,
        };
    }
    const value = facts.current.value;
    if (value >= facts.vcpus) {
        return { kind: "enough" };
    }
    if (facts.requestIncrease) {
        return {
            kind: "request",
            quota,
            value: facts.vcpus,
            warning: `Requesting an increase of ${described} from ${value} to ${facts.vcpus} vCPUs ` +
                `(${CONFIG_NAMESPACE}:requestQuotaIncrease is true). AWS must approve it: small increases often within ` +
                `minutes, sometimes after days, and AWS may ask for a use case by e-mail. Until it is approved the machine ` +
                `cannot start (VcpuLimitExceeded); run \`pulumi up\` again once it is. Status: ${quotaConsoleUrl(facts.region, quota)} ` +
                `(Quota request history).`,
        };
    }
    throw accountProblem(
        `${needs} of ${described}, but that quota is ${value} vCPUs. Ask AWS for at least ${facts.vcpus}: ` +
        `Service Quotas console → AWS services → Amazon Elastic Compute Cloud (Amazon EC2) → "${quota.name}" → ` +
        `Request increase at account level (${quotaConsoleUrl(facts.region, quota)}), in region ${facts.region}; ` +
        `or let this program file the request: \`pulumi config set ${CONFIG_NAMESPACE}:requestQuotaIncrease true\`. ` +
        `AWS approves increases from minutes to days; then run \`pulumi up\` again.`,
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

export interface ZoneFacts {
    region: string;
    instanceType: string;
    offeringZones: string[];
    subnet?: SubnetInfo;
    existingVolume?: ExistingVolume;
    existingInstance?: ExistingInstance;
    /** GPU types offered somewhere in the region, for the message when this one is offered nowhere. */
    typesInRegion?: string[];
}

function configProblem(key: ConfigKey, value: unknown, accepted: string): DeployRefused {
    return new DeployRefused([problem(key, value, accepted)]);
}

/** A refusal no setting can lift: the account has to change first. */
function accountProblem(message: string): DeployRefused {
    return new DeployRefused([{ message }]);
}

function offeredNowhere(facts: ZoneFacts): DeployRefused {
    const families = [...new Set((facts.typesInRegion ?? []).map((type) => type.split(".")[0]))];
    const here = families.length > 0
        ? `GPU families offered in ${facts.region}: ${families.join(", ")} (for example ${facts.typesInRegion?.[0]})`
        : `no supported GPU family is offered in ${facts.region}`;
    return configProblem("instanceType", facts.instanceType,
        `it is not offered in any zone of ${facts.region}. ${here}. To find a region that has it: ` +
        `aws ec2 describe-instance-type-offerings --location-type region --filters Name=instance-type,Values=${facts.instanceType} --region <region> ` +
        `(GPU types are most widely offered in us-east-1, us-east-2 and us-west-2), then \`pulumi config set aws:region <region>\``);
}

/**
 * Chooses the zone. A zone that already holds the notebook's data volume (or its machine) wins
 * over everything the instance type would suggest, so changing the type never moves the data;
 * an explicit subnetId or availabilityZone comes next; otherwise the first zone, by name, that
 * offers the type. Throws a DeployRefused when the choice cannot work.
 */
export function chooseZone(settings: NotebookSettings, facts: ZoneFacts): { zone: string; reason: string } {
    const { region, instanceType, offeringZones, subnet, existingVolume, existingInstance } = facts;
    if (settings.availabilityZone !== undefined && !settings.availabilityZone.startsWith(region)) {
        throw configProblem("availabilityZone", settings.availabilityZone,
            `a zone of the stack's region ${region}, such as ${offeringZones[0] ?? `${region}a`}`);
    }
    if (subnet && settings.availabilityZone !== undefined && subnet.zone !== settings.availabilityZone) {
        throw configProblem("availabilityZone", settings.availabilityZone,
            `the subnet ${subnet.id} (${CONFIG_NAMESPACE}:subnetId) is in ${subnet.zone}; set one or the other, or both alike`);
    }
    if (subnet && settings.vpcId !== undefined && subnet.vpcId !== settings.vpcId) {
        throw configProblem("vpcId", settings.vpcId,
            `the subnet ${subnet.id} (${CONFIG_NAMESPACE}:subnetId) belongs to ${subnet.vpcId}; set one or the other, or both alike`);
    }
    const requested = subnet
        ? { zone: subnet.zone, reason: `the zone of subnet ${subnet.id}`, key: "subnetId" as const, value: subnet.id }
        : settings.availabilityZone !== undefined
            ? { zone: settings.availabilityZone, reason: "availabilityZone", key: "availabilityZone" as const, value: settings.availabilityZone }
            : undefined;

    if (existingVolume) {
        if (requested && requested.zone !== existingVolume.zone) {
            throw configProblem(requested.key, requested.value,
                `the notebook's data volume ${existingVolume.id} (your ~/notebooks) is in ${existingVolume.zone}, and a volume ` +
                `cannot follow the machine to ${requested.zone}. Keep ${existingVolume.zone}, or move the data: ` +
                `\`pulumi destroy\` keeps a final snapshot of it, then set ${CONFIG_NAMESPACE}:restoreFromSnapshotId to that snapshot ` +
                `and \`pulumi up\` in the new zone (see the README, "Getting your work back")`);
        }
        if (!offeringZones.includes(existingVolume.zone)) {
            throw configProblem("instanceType", instanceType,
                `it is not offered in ${existingVolume.zone}, where the notebook's data volume ${existingVolume.id} (your ~/notebooks) ` +
                `is; ${offeringZones.length > 0 ? `it is offered in ${offeringZones.join(", ")}` : `it is offered nowhere in ${region}`}. ` +
                `Choose a type offered in ${existingVolume.zone}, or move the data: \`pulumi destroy\` keeps a final snapshot, then ` +
                `set ${CONFIG_NAMESPACE}:restoreFromSnapshotId to it and \`pulumi up\` (see the README, "Getting your work back")`);
        }
        return { zone: existingVolume.zone, reason: `the zone of the notebook's data volume ${existingVolume.id}` };
    }
    if (offeringZones.length === 0) {
        throw offeredNowhere(facts);
    }
    if (requested) {
        if (!offeringZones.includes(requested.zone)) {
            throw configProblem(requested.key, requested.value,
                `${instanceType} is not offered in ${requested.zone}; zones of ${region} that offer it: ${offeringZones.join(", ")}`);
        }
        return { zone: requested.zone, reason: requested.reason };
    }
    if (existingInstance) {
        if (!offeringZones.includes(existingInstance.zone)) {
            throw configProblem("instanceType", instanceType,
                `it is not offered in ${existingInstance.zone}, where the notebook's machine ${existingInstance.id} runs ` +
                `(it is offered in ${offeringZones.join(", ")}). Choose a type offered in ${existingInstance.zone}, or set ` +
                `${CONFIG_NAMESPACE}:availabilityZone to one of those zones, which replaces the machine: copy your work off its disk first`);
        }
        return { zone: existingInstance.zone, reason: `the zone the notebook's machine ${existingInstance.id} runs in` };
    }
    return { zone: offeringZones[0], reason: `the first zone of ${region} that offers ${instanceType}` };
}

export interface VolumeFacts {
    existing: ExistingVolume[];
    /** Size of restoreFromSnapshotId, when it was looked up. */
    snapshotSizeGb?: number;
}

/**
 * Checks the data volume settings against the volume that already exists, so no config change
 * deletes or shrinks it. Returns warnings to show; throws a DeployRefused when refused.
 */
export function checkDataVolume(settings: NotebookSettings, facts: VolumeFacts): string[] {
    const [existing, ...others] = facts.existing;
    if (others.length > 0) {
        throw accountProblem(`more than one data volume is tagged as this notebook's: ` +
            `${facts.existing.map((volume) => `${volume.id} (${volume.zone})`).join(", ")}. Keep the one with your work, ` +
            `and remove the tag of the others (or delete them) before running again.`);
    }
    if (!existing) {
        if (facts.snapshotSizeGb !== undefined && settings.dataVolumeGb < facts.snapshotSizeGb) {
            throw configProblem("dataVolumeGb", settings.dataVolumeGb,
                `at least ${facts.snapshotSizeGb}, the size of the snapshot ${settings.restoreFromSnapshotId} (${CONFIG_NAMESPACE}:restoreFromSnapshotId)`);
        }
        return [];
    }
    if (settings.dataVolumeGb === 0) {
        throw configProblem("dataVolumeGb", 0,
            `the notebook has a data volume, ${existing.id} (${existing.sizeGb} GiB), which holds your ~/notebooks; 0 would ` +
            `delete it. Set it back to ${existing.sizeGb} (or more). To remove the volume on purpose, \`pulumi destroy\` ` +
            `deletes it after taking a final snapshot`);
    }
    if (settings.dataVolumeGb < existing.sizeGb) {
        throw configProblem("dataVolumeGb", settings.dataVolumeGb,
            `${existing.sizeGb} or more: the data volume ${existing.id} is ${existing.sizeGb} GiB and EBS volumes cannot shrink`);
    }
    const restore = settings.restoreFromSnapshotId;
    if (restore !== undefined && restore !== existing.snapshotId) {
        return [`${CONFIG_NAMESPACE}:restoreFromSnapshotId = ${restore} is only used when the data volume is created; the ` +
            `existing data volume ${existing.id} is kept unchanged. To restore that snapshot in its place, \`pulumi destroy\` ` +
            `(which keeps a final snapshot of ${existing.id}) and \`pulumi up\` again.`];
    }
    return [];
}

/** What the preflight found: everything the component needs to build without further lookups. */
export interface PreflightResult {
    region: string;
    placement: Placement;
    quotaRequest?: { quota: VcpuQuota; value: number };
    warnings: string[];
}

export interface NotebookIdentity {
    /** Tags the notebook's instance carries (Name, project, stack). */
    instanceTags: Record<string, string>;
    /** Value of the data volume's tag (DATA_VOLUME_TAG). */
    dataVolumeTag: string;
    market: Market;
}

/** Finds the subnet for the chosen zone, or says that a VPC must be created. */
async function chooseNetwork(settings: NotebookSettings, region: string, zone: string, subnet?: SubnetInfo): Promise<Network> {
    if (subnet) {
        return { kind: "existing", vpcId: subnet.vpcId, subnetId: subnet.id };
    }
    const vpcId = settings.vpcId ?? await lookupDefaultVpcId();
    if (vpcId === undefined) {
        return { kind: "create" };
    }
    const ownVpc = settings.vpcId !== undefined;
    const [subnetId] = await lookupSubnetIds(vpcId, zone, !ownVpc);
    if (subnetId === undefined) {
        throw ownVpc
            ? configProblem("vpcId", vpcId, `it has no subnet in ${zone}; set ${CONFIG_NAMESPACE}:subnetId to a public subnet of it, ` +
                `or ${CONFIG_NAMESPACE}:availabilityZone to a zone where it has one`)
            : accountProblem(`the default VPC ${vpcId} of ${region} has no default subnet in ${zone}. Create it with ` +
                `\`aws ec2 create-default-subnet --availability-zone ${zone}\`, or set ${CONFIG_NAMESPACE}:subnetId.`);
    }
    return { kind: "existing", vpcId, subnetId };
}

/**
 * Looks up the account's facts and decides quota, zone, network and data volume. Every refusal
 * is thrown from here, before any resource of the notebook exists.
 */
export async function preflight(settings: NotebookSettings, identity: NotebookIdentity): Promise<PreflightResult> {
    const region = await lookupRegion();
    const warnings: string[] = [];

    const [vcpus, current, offeringZones, subnet, volumes, instances] = await Promise.all([
        lookupVcpus(settings.instanceType),
        lookupEc2Quota(vcpuQuotaFor(settings.instanceType, identity.market).code),
        lookupOfferingZones(settings.instanceType),
        settings.subnetId !== undefined ? lookupSubnet(settings.subnetId).catch(() => {
            throw configProblem("subnetId", settings.subnetId, `no subnet with that id exists in ${region} for this account; ` +
                `list yours with \`aws ec2 describe-subnets --region ${region}\``);
        }) : Promise.resolve(undefined),
        lookupDataVolumes(identity.dataVolumeTag),
        lookupInstances(identity.instanceTags),
    ]);

    const needSnapshot = settings.restoreFromSnapshotId !== undefined && volumes.length === 0;
    let snapshotSizeGb: number | undefined;
    if (needSnapshot) {
        try {
            snapshotSizeGb = await lookupSnapshotSizeGb(settings.restoreFromSnapshotId as string);
        } catch {
            throw configProblem("restoreFromSnapshotId", settings.restoreFromSnapshotId,
                `no snapshot with that id is visible to this account in ${region}; list yours with ` +
                `\`aws ec2 describe-snapshots --owner-ids self --region ${region}\` (a snapshot from another region must be copied here first)`);
        }
    }
    warnings.push(...checkDataVolume(settings, { existing: volumes, snapshotSizeGb }));
    if (volumes.length === 0 && settings.dataVolumeGb > 0 && instances[0]) {
        // The boot configuration gains the mount, and boot configuration changes replace the machine.
        warnings.push(`Adding a data volume to the running notebook ${instances[0].id} replaces its machine: files on its ` +
            `root disk, ~/notebooks included, are NOT carried over. If you have work there, answer "no" now, copy it off ` +
            `(rsync -a -e "ssh -i <key>" <user>@<ip>:notebooks/ ./notebooks-backup/), run \`pulumi up\` again and copy it back ` +
            `onto the new ~/notebooks. (${CONFIG_NAMESPACE}:dataVolumeGb = 0 keeps the machine as it is.)`);
    }

    const typesInRegion = offeringZones.length === 0 ? await lookupTypesInRegion(GPU_FAMILIES) : undefined;
    const zoneFacts: ZoneFacts = {
        region, instanceType: settings.instanceType, offeringZones, subnet,
        existingVolume: volumes[0], existingInstance: instances[0], typesInRegion,
    };
    let { zone, reason } = chooseZone(settings, zoneFacts);
    let network: Network;
    const freeChoice = !subnet && settings.availabilityZone === undefined && !volumes[0] && !instances[0] &&
        settings.vpcId === undefined;
    if (freeChoice) {
        // A default VPC can lack a subnet in a newer zone: take the first offering zone it covers.
        const defaultVpc = await lookupDefaultVpcId();
        network = { kind: "create" };
        if (defaultVpc !== undefined) {
            let found: string | undefined;
            for (const candidate of offeringZones) {
                [found] = await lookupSubnetIds(defaultVpc, candidate, true);
                if (found !== undefined) {
                    zone = candidate;
                    break;
                }
            }
            if (found === undefined) {
                throw accountProblem(`the default VPC ${defaultVpc} of ${region} has no default subnet in any zone that offers ` +
                    `${settings.instanceType} (${offeringZones.join(", ")}). Create one with \`aws ec2 create-default-subnet ` +
                    `--availability-zone ${offeringZones[0]}\`, or set ${CONFIG_NAMESPACE}:subnetId.`);
            }
            network = { kind: "existing", vpcId: defaultVpc, subnetId: found };
            reason = `the first zone of ${region} that offers ${settings.instanceType} and has a default subnet`;
        }
    } else {
        network = await chooseNetwork(settings, region, zone, subnet);
    }

    const quotaDecision = decideQuota({
        instanceType: settings.instanceType, market: identity.market, region, vcpus, current,
        requestIncrease: settings.requestQuotaIncrease,
    });
    let quotaRequest: PreflightResult["quotaRequest"];
    if (quotaDecision.kind === "unknown") {
        warnings.push(quotaDecision.warning);
    } else if (quotaDecision.kind === "request") {
        warnings.push(quotaDecision.warning);
        quotaRequest = { quota: quotaDecision.quota, value: quotaDecision.value };
    }
    return { region, placement: { zone, reason, network }, quotaRequest, warnings };
}

/** Shows preflight warnings in the `pulumi up` output. */
export function reportWarnings(warnings: string[], resource?: pulumi.Resource): void {
    for (const warning of warnings) {
        pulumi.log.warn(warning, resource);
    }
}
