// npm run bench:ssh: what sharing one SSH connection saves. Starts Debian's sshd on 127.0.0.1
// (the scripts tests' harness), lets scripts/ssh write its config as it does for a user, then
// times 20 `ssh true` round trips on a new connection each, and 20 on the shared one.
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { SCRIPTS, startLocalMachine, stopLocalMachine } from "../support/scripts";

const ROUND_TRIPS = 20;
const REQUIRED_SPEED_UP = 5;
const STACK = "bench";

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Milliseconds of each of ROUND_TRIPS runs of `ssh ...args true`. */
function time(args: string[], env: NodeJS.ProcessEnv): number[] {
    return Array.from({ length: ROUND_TRIPS }, () => {
        const started = process.hrtime.bigint();
        const result = spawnSync("ssh", [...args, "true"], { env, encoding: "utf8", timeout: 30_000 });
        if (result.status !== 0) {
            throw new Error(`ssh ${args.join(" ")} true failed: ${result.stderr}`);
        }
        return Number(process.hrtime.bigint() - started) / 1e6;
    });
}

async function main(): Promise<number> {
    // Short: the shared connection's socket lives under HOME.
    const dir = mkdtempSync(path.join(tmpdir(), "gnb-"));
    const machine = await startLocalMachine(dir, STACK);
    try {
        // Writes the config and opens the shared connection, as a user's first command does.
        const first = spawnSync("bash", [path.join(SCRIPTS, "ssh"), "true"], { env: machine.env, encoding: "utf8" });
        const config = path.join(machine.home, ".ssh", `gpu-notebook-${STACK}.ssh_config`);
        const host = `gpu-notebook-${STACK}`;
        if (first.status !== 0 || !readFileSync(config, "utf8").includes("ControlMaster auto")) {
            throw new Error(`scripts/ssh did not connect through a shared connection (${config}): ${first.stderr}`);
        }
        const fresh = time(["-F", config, "-o", "ControlPath=none", host], machine.env);
        const shared = time(["-F", config, host], machine.env);
        const ratio = median(fresh) / median(shared);
        const describe = (values: number[]) =>
            `median ${median(values).toFixed(1)} ms (min ${Math.min(...values).toFixed(1)}, max ${Math.max(...values).toFixed(1)})`;
        console.log(`ssh true to sshd on 127.0.0.1:${machine.sshd.port}, ${ROUND_TRIPS} round trips each, through the config scripts/ssh writes:`);
        console.log(`  a new connection each time:  ${describe(fresh)}`);
        console.log(`  the shared connection:       ${describe(shared)}`);
        console.log(`  sharing is ${ratio.toFixed(1)}x faster (required: at least ${REQUIRED_SPEED_UP}x)`);
        return ratio >= REQUIRED_SPEED_UP ? 0 : 1;
    } finally {
        await stopLocalMachine(machine);
        rmSync(dir, { recursive: true, force: true });
    }
}

main().then((code) => process.exit(code), (error) => {
    console.error(error);
    process.exit(1);
});
