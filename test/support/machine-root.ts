// Test-only: the machine's files as the program hands them over (boot bundle and user data),
// installed below a temporary root, with every absolute path of the machine moved below it and
// the notebook user played by `games` (NOTEBOOK_USER). The machine file's `unattended` object is the program's
// own, rendered from the run's config (components/notify.ts), unless a test writes one in the
// contract's shape (components/contract.ts) to choose limits the config cannot (seconds of stall).
import { execFileSync, ExecFileSyncOptions } from "child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { INSTANCE_PATHS } from "../../components/contract";
import type { UnattendedFile } from "../../components/notify";
import { runShared, StackRun, VALID_CONFIG } from "./program";
import { machineFiles } from "./user-data";

/** machine.json's `unattended` object, as the program renders it (components/notify.ts). */
export type Unattended = UnattendedFile;

export interface MachineRoot {
    root: string;
    /** The notebook user's home and notebook folder below the root. */
    home: string;
    notebookDir: string;
    jobsDir: string;
    runDir: string;
    machineFile: string;
    user: { uid: number; gid: number };
    /** An installed file's path below the root. */
    at(machinePath: string): string;
    /** The job runner as the user scripts run it over SSH: the installed file, as the notebook user. */
    runner(args: string[], env?: NodeJS.ProcessEnv): string;
}

const MOVED = ["/etc/gpu-notebook", "/usr/local/lib/gpu-notebook", "/run/gpu-notebook-", "/var/log/gpu-notebook", "/home/ubuntu"];

/**
 * Installs what `run` (by default the program's run of VALID_CONFIG) hands its machine; `unattended`,
 * when given, replaces the machine file's object of that name.
 */
/**
 * The account that plays the notebook user: an existing one, so no test adds users to the host,
 * and not `nobody`, which the idle watcher's tests play theirs with: the watcher counts all of its
 * user's CPU, so this file's CPU-burning jobs, run beside them by another mocha worker, would keep
 * their machine up.
 */
export const NOTEBOOK_USER = "games";

export async function makeMachineRoot(prefix: string, unattended?: Unattended, run?: StackRun): Promise<MachineRoot> {
    const root = mkdtempSync(path.join(tmpdir(), prefix));
    chmodSync(root, 0o755);
    const id = (flag: string) => Number(execFileSync("id", [flag, NOTEBOOK_USER], { encoding: "utf8" }));
    const user = { uid: id("-u"), gid: id("-g") };
    const relocate = (text: string) => MOVED.reduce((moved, prefixPath) => moved.split(prefixPath).join(`${root}${prefixPath}`), text);
    const { cloud } = run ?? await runShared(VALID_CONFIG);
    for (const entry of machineFiles(cloud, cloud.one("aws:ec2/instance:Instance"))) {
        const target = path.join(root, entry.path);
        mkdirSync(path.dirname(target), { recursive: true });
        writeFileSync(target, relocate(entry.content), { mode: Number.parseInt(entry.permissions, 8) });
    }
    const at = (machinePath: string) => path.join(root, machinePath);
    const machineFile = at(INSTANCE_PATHS.machineFile);
    const machine = JSON.parse(readFileSync(machineFile, "utf8"));
    writeFileSync(machineFile, JSON.stringify({ ...machine, notebook: { ...machine.notebook, user: NOTEBOOK_USER }, unattended: unattended ?? machine.unattended }, null, 2));
    const home = at("/home/ubuntu");
    const notebookDir = path.join(home, "notebooks");
    // What the jobs' tmpfiles.d entry makes at boot: the run dir and the delivery log's folder, the user's.
    for (const folder of [path.join(notebookDir, ".gpu-notebook"), at(INSTANCE_PATHS.jobsRunDir), path.dirname(at(INSTANCE_PATHS.notifyLog))]) {
        mkdirSync(folder, { recursive: true });
    }
    execFileSync("chown", ["-R", `${user.uid}:${user.gid}`, home, at(INSTANCE_PATHS.jobsRunDir), path.dirname(at(INSTANCE_PATHS.notifyLog))]);
    chownSync(root, 0, 0);
    const runner = (args: string[], env: NodeJS.ProcessEnv = {}) => execFileSync(at(INSTANCE_PATHS.jobRunner), [
        args[0], "--machine", machineFile, ...args.slice(1),
    ], { encoding: "utf8", uid: user.uid, gid: user.gid, env: { PATH: "/usr/bin:/bin", HOME: home, ...env }, timeout: 60_000 } as ExecFileSyncOptions) as string;
    return { root, home, notebookDir, jobsDir: path.join(notebookDir, "jobs"), runDir: at(INSTANCE_PATHS.jobsRunDir), machineFile, user, at, runner };
}
