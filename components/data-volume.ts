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
    snapshotId?: pulumi.Input<string>;
    tags: Record<string, string>;
    /**
     * The volume was made by this run's first launch, which then found no capacity in its zone:
     * it holds nothing yet, so a new zone replaces it there (see preflight.ts withoutFreshVolume).
     */
    followsMachine?: boolean;
}

/**
 * The resource name of the data volume, from what the account says about it: `NAME-data`, and
 * `NAME-data-ZONE` for one a move made (which must exist beside the volume it is copied from).
 * Read from the volume's tags, never from the config, so no setting can rename (replace) it.
 */
export function dataVolumeName(name: string, volume: { zone: string; movedFrom?: string } | undefined): string {
    return volume?.movedFrom !== undefined ? `${name}-data-${volume.zone}` : `${name}-data`;
}

/**
 * Moves the data by snapshot (npm run move; preflight.ts MoveStep): the snapshot of the volume
 * the data is on, made while its machine is stopped. It is kept until the copy made from it is
 * attached and the old volume marked moved away, and is deleted with the old volume.
 */
export function snapshotForMove(name: string, source: ebs.Volume, tags: Record<string, string>, parent: pulumi.Resource): ebs.Snapshot {
    return new ebs.Snapshot(`${name}-data-move`, {
        volumeId: source.id,
        // Without the zone: a move sent elsewhere after a failure keeps this snapshot (a new description would replace it).
        description: "gpu-notebook: ~/notebooks being moved to another zone (npm run move); deleted once the move is done",
        tags,
    }, {
        parent,
        // The provider waits until the snapshot is complete, which for a first snapshot of a large
        // volume takes longer than its default 10 minutes; the copy cannot be made before.
        customTimeouts: { create: "2h" },
    });
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
export function createDataVolume(resourceName: string, args: DataVolumeArgs, parent: pulumi.Resource): ebs.Volume {
    return new ebs.Volume(resourceName, {
        availabilityZone: args.zone,
        size: args.sizeGb,
        type: "gp3",
        encrypted: true,
        snapshotId: args.snapshotId,
        // Never changed after creation: the provider would send EC2 a ModifyVolume with nothing to
        // modify, which EC2 refuses (hashicorp/terraform-provider-aws#31044).
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
