// The notebook's data volume: a separate encrypted gp3 volume for ~/notebooks that outlives the
// machine. Its inputs depend only on the zone, the size, the snapshot and the tags, never on the
// instance type, the boot configuration or the AMI, so replacing the machine re-attaches the same
// volume instead of creating a new, empty one.
import * as pulumi from "@pulumi/pulumi";
import * as ebs from "@pulumi/aws/ebs";
import * as ec2 from "@pulumi/aws/ec2";

/**
 * The device name the attachment asks for. On the Nitro types this product runs, the volume
 * shows up as an NVMe device whatever this says; the boot script finds it by its volume id.
 */
const DATA_VOLUME_DEVICE_NAME = "/dev/sdf";

export interface DataVolumeArgs {
    /** Availability zone; must be the instance's. Chosen stably by preflight.ts. */
    zone: string;
    /** GiB. Growing is an in-place change; shrinking is refused by preflight.ts. */
    sizeGb: number;
    /** Created from this snapshot; only at creation (later changes are ignored, never a replacement). */
    snapshotId?: string;
    tags: Record<string, string>;
    /**
     * The volume was made by this run's first launch, which then found no capacity in its zone:
     * it holds nothing yet, so a new zone replaces it there (see preflight.ts withoutFreshVolume).
     */
    followsMachine?: boolean;
}

/**
 * Data safety, and why it is done this way:
 * - `finalSnapshot`: whenever the provider deletes the volume (`pulumi destroy`, or a replacement
 *   someone forces), AWS first takes a snapshot of it; restoreFromSnapshotId brings it back.
 * - `ignoreChanges` on the zone and the snapshot: the two inputs that would replace the volume
 *   are pinned after creation. preflight.ts also refuses a zone change with an explanation; this
 *   makes a mistake there fail at attach time rather than swap in an empty volume.
 * - No `protect` and no `retainOnDelete`: `protect` would make `pulumi destroy` fail until the user
 *   runs `pulumi state unprotect`, and `retainOnDelete` would skip the final snapshot and leave an
 *   unmanaged volume billing in the account. `pulumi destroy` should remove everything that costs
 *   money and keep the work, as a snapshot: that is what `finalSnapshot` does.
 */
export function createDataVolume(name: string, args: DataVolumeArgs, parent: pulumi.Resource): ebs.Volume {
    return new ebs.Volume(`${name}-data`, {
        availabilityZone: args.zone,
        size: args.sizeGb,
        type: "gp3",
        encrypted: true,
        snapshotId: args.snapshotId,
        finalSnapshot: true,
        tags: args.tags,
    }, { parent, ignoreChanges: args.followsMachine ? ["snapshotId"] : ["availabilityZone", "snapshotId"] });
}

/**
 * Attaches the volume. A replaced machine means a new attachment: the old one goes first
 * (deleteBeforeReplace), and the old machine is stopped before the volume is detached so its
 * filesystem is cleanly unmounted.
 */
export function attachDataVolume(name: string, volume: ebs.Volume, instance: ec2.Instance, parent: pulumi.Resource): ec2.VolumeAttachment {
    return new ec2.VolumeAttachment(`${name}-data-attachment`, {
        deviceName: DATA_VOLUME_DEVICE_NAME,
        volumeId: volume.id,
        instanceId: instance.id,
        stopInstanceBeforeDetaching: true,
    }, { parent, deleteBeforeReplace: true });
}
