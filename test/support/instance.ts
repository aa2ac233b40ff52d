// Test-only: a machine root here, built from what the program renders under the mocks (the user
// data's files and the boot bundle's, with their owners and modes), its login user, and a way to
// run a command that sees those files at their real absolute paths, as that user or as root.
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import { chownSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";

import { homeOf, notebookDirOf } from "../../components/boot";
import { MockCloud } from "../../components/offline/mock-cloud";
import { unwrap } from "../../components/offline/run-program";
import { runProgram } from "./program";
import { machineFiles, userDataOf, WrittenFile } from "./user-data";

const INSTANCE_TYPE = "aws:ec2/instance:Instance";

export interface Account {
    name: string;
    uid: number;
    gid: number;
}

export interface Rendered {
    userData: string;
    /** Everything the machine gets: the user data's files and the installed bundle's. */
    files: WrittenFile[];
    password: string;
    certificatePem: string;
    user: string;
}

/** Runs the program under the mocks with the Elastic IP 127.0.0.1, so the certificate is valid here. */
export async function render(config: Record<string, string>): Promise<Rendered> {
    const { cloud, outputs } = await runProgram(config, new MockCloud({ world: { elasticIp: "127.0.0.1" } }));
    return {
        userData: userDataOf(cloud.one(INSTANCE_TYPE)),
        files: machineFiles(cloud, cloud.one(INSTANCE_TYPE)),
        password: await unwrap(outputs.notebookPassword),
        certificatePem: await unwrap(outputs.notebookCertificatePem),
        user: config.sshUser ?? "ubuntu",
    };
}

/** The first uid and gid from 2000 up that this machine does not use, so the test user owns only our files. */
export function unusedAccount(name: string): Account {
    const used = (file: string) => new Set(readFileSync(file, "utf8").split("\n").map((line) => Number(line.split(":")[2])));
    const uids = used("/etc/passwd");
    const gids = used("/etc/group");
    let id = 2000;
    while (uids.has(id) || gids.has(id)) {
        id++;
    }
    return { name, uid: id, gid: id };
}

/**
 * Writes the user data's write_files below `root` as cloud-init would (content, mode, owner), and
 * adds what the instance has besides: the login user (the AMI's, or cloud-init's `users` entry) with
 * its home, and the ~/notebooks directory prepare-jupyter.sh creates (`install -d -o USER -m 0750`).
 */
export function buildInstanceRoot(root: string, rendered: Rendered, account: Account): void {
    const owners: Record<string, Account> = { root: { name: "root", uid: 0, gid: 0 }, [account.name]: account };
    for (const file of rendered.files) {
        assert.ok(path.isAbsolute(file.path) && !file.path.split("/").includes(".."), `odd path ${file.path}`);
        assert.ok(file.encoding === undefined || file.encoding === "text/plain", `unexpected encoding ${file.encoding}`);
        const [ownerName, groupName] = (file.owner ?? "root:root").split(":");
        const owner = owners[ownerName];
        const group = owners[groupName ?? ownerName];
        assert.ok(owner && group, `write_files ${file.path}: unknown owner ${file.owner}`);
        const target = path.join(root, file.path);
        mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
        writeFileSync(target, file.content);
        chownSync(target, owner.uid, group.gid);
        execFileSync("chmod", [file.permissions ?? "0644", target]);
    }
    const etc = path.join(root, "etc");
    const withoutUser = (file: string) => readFileSync(file, "utf8").split("\n")
        .filter((line) => line !== "" && !line.startsWith(`${account.name}:`)).join("\n");
    writeFileSync(path.join(etc, "passwd"),
        `${withoutUser("/etc/passwd")}\n${account.name}:x:${account.uid}:${account.gid}::${homeOf(account.name)}:/bin/bash\n`);
    writeFileSync(path.join(etc, "group"), `${withoutUser("/etc/group")}\n${account.name}:x:${account.gid}:\n`);
    for (const dir of [homeOf(account.name), notebookDirOf(account.name)]) {
        const target = path.join(root, dir);
        mkdirSync(target, { recursive: true });
        chownSync(target, account.uid, account.gid);
        execFileSync("chmod", ["0750", target]);
    }
}

// Runs a command so that it sees the instance's files at their real absolute paths, as the
// instance's user, without rewriting them: a private mount namespace (unshare --mount) overlays
// the extracted /etc on this machine's /etc (read-only, extracted files first) and binds the
// extracted /home over /home; then it enters the working directory and drops to the user (setpriv).
// Nothing outside the namespace sees these mounts, and they vanish with the process.
const INSTANCE_VIEW_SCRIPT = [
    "set -eu",
    'root=$1 workdir=$2 uid=$3 gid=$4',
    "shift 4",
    'mount -t overlay gpu-notebook-etc -o "lowerdir=$root/etc:/etc" /etc',
    'mount --bind "$root/home" /home',
    'cd "$workdir"',
    'exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"',
].join("\n");

export function inInstanceView(root: string, account: Account, workdir: string, command: string[]): string[] {
    return [
        "unshare", "--mount", "--propagation", "private", "--",
        "/bin/sh", "-c", INSTANCE_VIEW_SCRIPT, "instance-view",
        root, workdir, String(account.uid), String(account.gid), ...command,
    ];
}

/** The [Service] settings of a systemd unit (last value wins, as for these single-valued keys). */
export function serviceSection(unit: string): Record<string, string> {
    const settings: Record<string, string> = {};
    let section = "";
    for (const line of unit.split("\n")) {
        const header = /^\[(.+)\]$/.exec(line.trim());
        if (header) {
            section = header[1];
        } else if (section === "Service" && /^\w+=/.test(line)) {
            const separator = line.indexOf("=");
            settings[line.slice(0, separator)] = line.slice(separator + 1).trim();
        }
    }
    return settings;
}

export function isRoot(): boolean {
    return process.getuid?.() === 0;
}

// The whole machine as a program at boot sees it, in a private mount namespace: the instance's /etc
// over this machine's (read-only), its /home, the data volume (a folder of its own, so a second root
// can attach it) at the notebook folder, and its /usr/local, /var/lib and /opt as writable layers
// over this machine's whose writes land in the instance root. Then, as root or as the user, the command.
const MACHINE_VIEW_SCRIPT = [
    "set -eu",
    'root=$1 volume=$2 notebooks=$3 workdir=$4 ids=$5',
    "shift 5",
    'mount -t overlay gpu-notebook-etc -o "lowerdir=$root/etc:/etc" /etc',
    'mount --bind "$root/home" /home',
    'mount --bind "$volume" "$notebooks"',
    "for dir in usr/local var/lib opt; do",
    '    mkdir -p "$root/$dir" "$root/.overlay-work/$dir"',
    '    mount -t overlay "gpu-notebook-$dir" -o "lowerdir=/$dir,upperdir=$root/$dir,workdir=$root/.overlay-work/$dir" "/$dir"',
    "done",
    'cd "$workdir"',
    '[ "$ids" != root ] || exec "$@"',
    'exec setpriv --reuid="${ids%:*}" --regid="${ids#*:}" --clear-groups -- "$@"',
].join("\n");

/** A command run in the machine view of `root` with `volume` attached, as root (no account) or as `account`. */
export function inMachineView(root: string, volume: string, notebooks: string, workdir: string, account: Account | undefined, command: string[]): string[] {
    return [
        "unshare", "--mount", "--propagation", "private", "--",
        "/bin/sh", "-c", MACHINE_VIEW_SCRIPT, "machine-view",
        root, volume, notebooks, workdir, account ? `${account.uid}:${account.gid}` : "root", ...command,
    ];
}
