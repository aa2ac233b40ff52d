// Servers started once per test process and shared by every suite that asks for one, instead of
// one per suite. Mocha's workers each run one test file after another in the same process, so
// a suite that asks gets the server an earlier suite in its worker started, or starts it. Only
// for suites that leave the server as they found it; each suite keeps its own files (its own
// GPU_NOTEBOOK_STACK and, when it writes ~/.ssh files, its own HOME).
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { closeSharedConnections, LocalMachine, startLocalMachine } from "./scripts";

let machine: Promise<LocalMachine> | undefined;

async function startShared(): Promise<LocalMachine> {
    // Short: ssh's shared-connection socket lives under the machine's HOME, and socket paths are short.
    const dir = mkdtempSync(path.join(tmpdir(), "gns-"));
    try {
        const started = await startLocalMachine(dir, "shared");
        // Exit handlers run synchronously: close the connections, stop sshd, remove the files.
        process.once("exit", () => {
            closeSharedConnections(started.home);
            started.sshd.process.kill("SIGKILL");
            rmSync(dir, { recursive: true, force: true });
        });
        return started;
    } catch (error) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
    }
}

/**
 * Debian's sshd on 127.0.0.1 standing in for a deployed machine (see startLocalMachine: fresh host
 * and login keys, the outputs file the scripts read, `env` pointing the scripts at it), started on
 * first use and stopped when the test process exits. Set GPU_NOTEBOOK_STACK in the env you give
 * the scripts to a name of your suite's own.
 */
export function sharedMachine(): Promise<LocalMachine> {
    machine ??= startShared();
    return machine;
}
