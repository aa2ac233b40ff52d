// The boot bundle as an S3 object: boot.ts's files packed into one deterministic .tar.gz, stored
// under a key that ends in its SHA-256 in a private bucket the notebook owns, and named to the
// machine by an instance tag that is its own resource, so a new bundle changes neither the
// instance's inputs nor its user data.
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as s3 from "@pulumi/aws/s3";
import { gzip, ungzip } from "pako";

import { MachineFile } from "./boot";
import { BUNDLE_TAG } from "./contract";

const BLOCK = 512;

/** The folder of the bucket that holds the bundles; the instance role may read below it only. */
export const BUNDLE_PREFIX = "bundles/";

/** One ustar header field: text, NUL-padded to its width. */
function field(header: Buffer, offset: number, width: number, text: string): void {
    const bytes = Buffer.from(text, "utf8");
    if (bytes.length > width) {
        throw new Error(`tar: ${text} does not fit in ${width} bytes`);
    }
    bytes.copy(header, offset);
}

function octal(value: number, width: number): string {
    return value.toString(8).padStart(width - 1, "0");
}

/** The ustar header of a regular file owned by root, dated 0. */
function tarHeader(name: string, size: number, mode: number): Buffer {
    const header = Buffer.alloc(BLOCK);
    // ustar splits a long name into prefix (155) and name (100) at a slash.
    const split = name.length > 100 ? name.lastIndexOf("/", 155) : -1;
    field(header, 0, 100, split === -1 ? name : name.slice(split + 1));
    field(header, 100, 8, octal(mode, 8));
    field(header, 108, 8, octal(0, 8));
    field(header, 116, 8, octal(0, 8));
    field(header, 124, 12, octal(size, 12));
    field(header, 136, 12, octal(0, 12));
    header.fill(" ", 148, 156);
    field(header, 156, 1, "0");
    field(header, 257, 6, "ustar");
    field(header, 263, 2, "00");
    field(header, 265, 32, "root");
    field(header, 297, 32, "root");
    if (split !== -1) {
        field(header, 345, 155, name.slice(0, split));
    }
    let sum = 0;
    for (const byte of header) {
        sum += byte;
    }
    field(header, 148, 8, `${octal(sum, 7)}\0`);
    return header;
}

/**
 * A .tar.gz of the files, with entries relative to / in the given order. Deterministic: no
 * times, owner root, and pako's gzip (pure JavaScript, pinned, no time in its header), so the same
 * files give the same bytes on every machine and Node version. Written here rather than taken
 * from a library: ustar for plain files is a few dozen lines, and the tar libraries on npm stamp
 * times and owners from the file system, which would have to be overridden field by field.
 */
export function packBundle(files: MachineFile[]): Buffer {
    const parts: Buffer[] = [];
    for (const file of files) {
        const content = Buffer.from(file.content, "utf8");
        parts.push(tarHeader(file.path.replace(/^\/+/, ""), content.length, file.mode), content,
            Buffer.alloc((BLOCK - (content.length % BLOCK)) % BLOCK));
    }
    parts.push(Buffer.alloc(2 * BLOCK));
    return Buffer.from(gzip(Buffer.concat(parts), { level: 9 }));
}

/** The files of a bundle packBundle made (for reading a deploy: the plan, the tests). */
export function unpackBundle(bundle: Buffer): MachineFile[] {
    const tar = Buffer.from(ungzip(bundle));
    const text = (offset: number, width: number) => tar.subarray(offset, offset + width).toString("utf8").replace(/\0.*$/s, "");
    const files: MachineFile[] = [];
    for (let offset = 0; offset + BLOCK <= tar.length && tar[offset] !== 0; ) {
        const prefix = text(offset + 345, 155);
        const name = prefix ? `${prefix}/${text(offset, 100)}` : text(offset, 100);
        const size = parseInt(text(offset + 124, 12), 8);
        const start = offset + BLOCK;
        files.push({ path: `/${name}`, mode: parseInt(text(offset + 100, 8), 8), content: tar.subarray(start, start + size).toString("utf8") });
        offset = start + Math.ceil(size / BLOCK) * BLOCK;
    }
    return files;
}

/** The bundle's SHA-256, hex: the last part of its key, which the machine checks. */
export function bundleSha256(bundle: Buffer): string {
    return createHash("sha256").update(bundle).digest("hex");
}

/** The object key of a bundle. */
export function bundleKey(bundle: Buffer): string {
    return `${BUNDLE_PREFIX}${bundleSha256(bundle)}.tar.gz`;
}

export interface BootBundle {
    /** The bucket's ARN; the bundles are `${arn}/bundles/*`. */
    bucketArn: pulumi.Output<string>;
    /** The object resource, for ordering. */
    object: s3.BucketObjectv2;
    /** `<bucket>/<key>`: what the machine's tag says, which it reads at boot and when `npm run up` applies a new bundle over SSH. */
    reference: pulumi.Output<string>;
}

/**
 * A private, encrypted bucket that `pulumi destroy` empties and removes, and the bundle in it.
 * The bucket's name is generated once and kept; a new bundle is a new object under a new key.
 */
export function createBootBundle(name: string, files: pulumi.Output<MachineFile[]>, tags: Record<string, string>, parent: pulumi.Resource): BootBundle {
    const bucket = new s3.Bucket(`${name}-boot`, { forceDestroy: true, tags }, { parent });
    const access = new s3.BucketPublicAccessBlock(`${name}-boot-private`, {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
    }, { parent });
    const encryption = new s3.BucketServerSideEncryptionConfiguration(`${name}-boot-encryption`, {
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
    }, { parent });
    const bundle = files.apply(packBundle);
    const object = new s3.BucketObjectv2(`${name}-boot-bundle`, {
        bucket: bucket.id,
        key: bundle.apply(bundleKey),
        contentBase64: bundle.apply((bytes) => bytes.toString("base64")),
        contentType: "application/gzip",
        serverSideEncryption: "AES256",
        tags,
    }, { parent, dependsOn: [access, encryption] });
    return { bucketArn: bucket.arn, object, reference: pulumi.interpolate`${object.bucket}/${object.key}` };
}

/**
 * Tells the machine which bundle to run: a tag of its own (not the instance's tags input), so a
 * new bundle is an update of this tag and never touches the instance.
 */
export function tagBootBundle(name: string, instanceId: pulumi.Output<string>, bundle: BootBundle, parent: pulumi.Resource): ec2.Tag {
    return new ec2.Tag(`${name}-bundle-tag`, { resourceId: instanceId, key: BUNDLE_TAG, value: bundle.reference }, { parent });
}
