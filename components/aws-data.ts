// Every AWS lookup the program makes, behind one small module, so the test mocks know exactly
// which invoke tokens exist (an unknown token fails the tests).
import * as ec2 from "@pulumi/aws/ec2";

/** The invoke tokens this module uses; the mocks answer exactly these. */
export const INVOKE_TOKENS = {
    getAmi: "aws:ec2/getAmi:getAmi",
} as const;

/**
 * The latest x86_64 Deep Learning AMI with PyTorch on Ubuntu and the OSS NVIDIA driver, which
 * supports every family config.ts accepts. (ARM64 images are named "Deep Learning ARM64 AMI …".)
 */
export const DEEP_LEARNING_AMI_NAME = "Deep Learning OSS Nvidia Driver AMI GPU PyTorch * (Ubuntu 24.04) *";

export interface AmiInfo {
    id: string;
    name: string;
    /** Size of the AMI's root snapshot in GiB: the smallest root disk it boots from. */
    rootSizeGb: number;
}

/** Root disk room beyond the AMI for packages, datasets and checkpoints, in GiB. */
export const ROOT_DISK_HEADROOM_GB = 50;
/** The smallest default root disk, in GiB. */
export const MIN_DEFAULT_DISK_GB = 150;

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
