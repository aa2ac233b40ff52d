// Reading what a recorded instance is handed at boot: its bootstrap cloud-config (user data), the
// files it writes, and the boot bundle the machine then fetches and installs.
import { parse } from "yaml";

import { decodeUserData, MachineFile } from "../../components/boot";
import { unpackBundle } from "../../components/bundle";
import { MockCloud, RecordedResource } from "../../components/offline/mock-cloud";

export const BUNDLE_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2";

/** One write_files entry of the cloud-config. */
export interface WrittenFile {
    path: string;
    content: string;
    owner: string;
    permissions: string;
    encoding?: string;
    defer?: boolean;
}

/** The files a cloud-config text has cloud-init write. */
export function writtenFiles(userData: string): WrittenFile[] {
    return parse(userData).write_files as WrittenFile[];
}

/** The cloud-config text a recorded instance was handed (its userDataBase64, inflated). */
export function userDataOf(instance: RecordedResource): string {
    return decodeUserData(instance.inputs.userDataBase64);
}

/** The notebook a recorded resource belongs to: its name up to the resource's own suffix. */
function notebookOf(resource: RecordedResource, suffix: string): string {
    return resource.name.slice(0, -suffix.length);
}

/** The bundle object recorded for an instance's notebook. */
export function bundleObjectOf(cloud: MockCloud, instance: RecordedResource): RecordedResource {
    const notebook = notebookOf(instance, "-instance");
    const object = cloud.ofType(BUNDLE_OBJECT).find((candidate) => notebookOf(candidate, "-boot-bundle") === notebook);
    if (!object) {
        throw new Error(`no boot bundle recorded for ${instance.name}`);
    }
    return object;
}

/** The bundle bytes recorded for an instance, as the machine downloads them. */
export function bundleBytesOf(cloud: MockCloud, instance: RecordedResource): Buffer {
    return Buffer.from(bundleObjectOf(cloud, instance).inputs.contentBase64, "base64");
}

/** The files of the bundle an instance installs. */
export function bundleFilesOf(cloud: MockCloud, instance: RecordedResource): MachineFile[] {
    return unpackBundle(bundleBytesOf(cloud, instance));
}

/**
 * Everything the machine ends up with, as write_files entries: the user data's files (for
 * sshUser where they say so), then the bundle's (root's; a bundle file at the same path wins, as
 * on the machine, where the bundle is installed after cloud-init wrote the bootstrap).
 */
export function machineFiles(cloud: MockCloud, instance: RecordedResource): WrittenFile[] {
    const bundle: WrittenFile[] = bundleFilesOf(cloud, instance).map((file) =>
        ({ path: file.path, content: file.content, owner: "root:root", permissions: `0${file.mode.toString(8)}` }));
    const replaced = new Set(bundle.map((file) => file.path));
    return [...writtenFiles(userDataOf(instance)).filter((file) => !replaced.has(file.path)), ...bundle];
}

/** The machine file (the contract and the notebook's settings) an instance installs. */
// any: the machine file is JSON whose shape boot.ts renders
export function machineJsonOf(cloud: MockCloud, instance: RecordedResource): any {
    const file = bundleFilesOf(cloud, instance).find((entry) => entry.path.endsWith("/machine.json"));
    if (!file) {
        throw new Error("the bundle has no machine.json");
    }
    return JSON.parse(file.content);
}
