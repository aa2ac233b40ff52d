// The boot bundle as the stack deploys it: one deterministic, content-addressed object in a
// private bucket, named to the machine by a tag of its own, so a new boot file never touches the
// instance.
import { strict as assert } from "assert";
import { createHash } from "crypto";
// The module object itself (not a namespace copy), so a test can swap readFileSync.
import fs = require("fs");
import * as path from "path";

import { bundleFiles, MachineFile } from "../components/boot";
import { bundleKey, packBundle, unpackBundle } from "../components/bundle";
import { DEFAULTS } from "../components/config";
import { BUNDLE_TAG } from "../components/contract";
import { renderUnattended } from "../components/notify";
import { MockCloud } from "../components/offline/mock-cloud";
import { runProgram, VALID_CONFIG } from "./support/program";
import { BUNDLE_OBJECT } from "./support/user-data";
import { INSTANCE } from "./support/types";

const SETTINGS = {
    sshUser: "ubuntu", notebookPort: 8888, listenAddress: "0.0.0.0", tlsCertificatePem: "CERT\n",
    unattended: renderUnattended(DEFAULTS, "gpu-notebook dev", { lastStopParameter: "/gpu-notebook/dev/notebook/last-stop" }),
};

/** Runs the program with one file under components/boot/ read as `edit` makes it. */
async function deployWithBootFile(name: string, edit: (text: string) => string): Promise<MockCloud> {
    const target = path.join(__dirname, "..", "components", "boot", name);
    const original = fs.readFileSync;
    // any: readFileSync's overloads cannot be restated for a wrapper
    (fs as any).readFileSync = (file: fs.PathOrFileDescriptor, options?: any) => {
        const text = original(file, options);
        return file === target ? edit(String(text)) : text;
    };
    try {
        const cloud = new MockCloud();
        await runProgram(VALID_CONFIG, cloud);
        return cloud;
    } finally {
        (fs as any).readFileSync = original; // any: as above
    }
}

describe("the boot bundle", () => {
    it("packs the same files into the same bytes, and unpacks to them with their modes", () => {
        const files = bundleFiles(SETTINGS);
        const packed = packBundle(files);
        assert.ok(packBundle(bundleFiles(SETTINGS)).equals(packed), "deterministic");
        assert.deepStrictEqual(unpackBundle(packed), files);
        assert.ok(files.some((file) => file.mode === 0o755) && files.some((file) => file.mode === 0o644));
    });

    it("ships every file under components/boot/ as its source, comments and help included", () => {
        const shipped = bundleFiles(SETTINGS).map((file) => file.content);
        for (const name of ["idle-watcher.py", "gpu-notebook-job", "gpu_notebook_aws.py", "gpu_notebook_boot.py", "gpu_notebook_common.py", "mount-data-volume.sh", "prepare-jupyter.sh"]) {
            const source = fs.readFileSync(path.join(__dirname, "..", "components", "boot", name), "utf8");
            assert.ok(shipped.includes(source), `${name} is shipped as it is`);
        }
    });

    it("packs long paths with the ustar prefix field and reads them back", () => {
        const deep: MachineFile = { path: `/${"a".repeat(90)}/${"b".repeat(60)}/file.txt`, content: "x\n", mode: 0o600 };
        assert.deepStrictEqual(unpackBundle(packBundle([deep])), [deep]);
    });

    it("is stored under a key ending in its SHA-256, in a private, encrypted bucket that destroy removes", async () => {
        const { cloud } = await runProgram(VALID_CONFIG);
        const object = cloud.one(BUNDLE_OBJECT).inputs;
        const bytes = Buffer.from(object.contentBase64, "base64");
        assert.strictEqual(object.key, `bundles/${createHash("sha256").update(bytes).digest("hex")}.tar.gz`);
        assert.strictEqual(object.key, bundleKey(bytes));
        assert.strictEqual(object.serverSideEncryption, "AES256", "the object itself asks to be stored encrypted");
        const bucket = cloud.one("aws:s3/bucket:Bucket");
        assert.strictEqual(bucket.inputs.forceDestroy, true);
        assert.strictEqual(object.bucket, bucket.computed.id);
        const block = cloud.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs;
        assert.deepStrictEqual([block.bucket, block.blockPublicAcls, block.blockPublicPolicy, block.ignorePublicAcls, block.restrictPublicBuckets],
            [bucket.computed.id, true, true, true, true]);
        const encryption = cloud.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs;
        assert.strictEqual(encryption.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm, "AES256");
    });

    it("is named to the machine by a tag of its own, which the instance's own tags leave alone", async () => {
        const { cloud, options } = await runProgram(VALID_CONFIG);
        const tag = cloud.one("aws:ec2/tag:Tag").inputs;
        const object = cloud.one(BUNDLE_OBJECT).inputs;
        assert.deepStrictEqual(tag, { resourceId: cloud.one(INSTANCE).computed.id, key: BUNDLE_TAG, value: `${object.bucket}/${object.key}` });
        // Instance metadata serves tag keys of letters, digits and + - = . _ : @ only.
        assert.match(BUNDLE_TAG, /^[A-Za-z0-9+\-=._:@]+$/);
        assert.ok(!(BUNDLE_TAG in cloud.one(INSTANCE).inputs.tags));
        const instanceOptions = options.find((entry) => entry.type === INSTANCE);
        assert.ok(instanceOptions?.opts.ignoreChanges?.includes(`tags.${BUNDLE_TAG}`));
    });

    it("a changed boot file changes the bundle and the tag, and no input of the instance", async () => {
        const before = await deployWithBootFile("idle-watcher.py", (text) => text);
        const after = await deployWithBootFile("idle-watcher.py", (text) => `${text}\n# a new release\n`);
        assert.notStrictEqual(after.one(BUNDLE_OBJECT).inputs.key, before.one(BUNDLE_OBJECT).inputs.key);
        assert.notStrictEqual(after.one("aws:ec2/tag:Tag").inputs.value, before.one("aws:ec2/tag:Tag").inputs.value);
        assert.deepStrictEqual(after.one(INSTANCE).inputs, before.one(INSTANCE).inputs);
    });
});
