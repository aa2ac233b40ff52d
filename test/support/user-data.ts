// Reading what a recorded instance is handed at boot: its cloud-config and the files it writes.
import { parse } from "yaml";

import { decodeUserData } from "../../components/boot";
import { RecordedResource } from "../../components/offline/mock-cloud";

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
