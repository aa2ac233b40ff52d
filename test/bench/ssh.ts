// npm run bench:ssh: what a command costs over plain ssh. Starts Debian's sshd on 127.0.0.1 (the
// scripts tests' harness), lets scripts/ssh write its config as it does for a user, then times:
//   - 20 `ssh true` round trips on a new connection each, and 20 on the shared one (what sharing
//     one SSH connection saves);
//   - 10 each of `ssh -F <config> <alias> true` (plain ssh, shared connection), `bash scripts/ssh
//     true`, `gpu-notebook ssh true` (the bin) and `npm run ssh -- true`, with the outputs from
//     GPU_NOTEBOOK_OUTPUTS_FILE and, as a user has them, through the Pulumi CLI (the tests'
//     stand-in, after a first call): each command's own cost (its median less plain ssh's) and
//     ratio, and how many Pulumi CLI calls one command made.
// Fails when sharing saves less than 5x, or when `bash scripts/ssh`'s own cost is 100 ms or more.
import { spawn, spawnSync } from "child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

import { ROOT, SCRIPTS, startLocalMachine, stopLocalMachine } from "../support/scripts";
import { StandInStack } from "../support/stand-ins";

const ROUND_TRIPS = 20;
const COMMAND_RUNS = 10;
const REQUIRED_SPEED_UP = 5;
const OWN_COST_LIMIT_MS = 100;
const STACK = "bench";

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Milliseconds of each of `runs` runs of `command ...args`, which must succeed. Not spawnSync: this
 * process must keep reading sshd's log, or sshd stops once the pipe is full.
 */
async function time(command: string, args: string[], env: NodeJS.ProcessEnv, runs: number): Promise<number[]> {
    const times: number[] = [];
    for (let run = 0; run < runs; run++) {
        const started = process.hrtime.bigint();
        const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
            const child = spawn(command, args, { env, cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
            let stderr = "";
            child.stderr.on("data", (chunk) => { stderr += chunk; });
            child.on("error", reject);
            child.on("close", (code) => resolve({ code, stderr }));
        });
        if (code !== 0) {
            throw new Error(`${command} ${args.join(" ")} failed (${code}): ${stderr}`);
        }
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    return times;
}

const describe = (values: number[]) =>
    `median ${median(values).toFixed(1)} ms (min ${Math.min(...values).toFixed(1)}, max ${Math.max(...values).toFixed(1)})`;

/** The commands a user types for one `ssh true`, each timed COMMAND_RUNS times. */
function commands(root: string): [string, string, string[]][] {
    return [
        ["bash scripts/ssh true", "bash", [path.join(root, "scripts", "ssh"), "true"]],
        ["gpu-notebook ssh true", process.execPath, [path.join(root, "scripts", "gpu-notebook.js"), "ssh", "true"]],
        ["npm run ssh -- true", "npm", ["run", "--silent", "--prefix", root, "ssh", "--", "true"]],
    ];
}

/** Prints each command's own cost over plain ssh; returns that of bash scripts/ssh. */
async function compare(title: string, root: string, env: NodeJS.ProcessEnv, plainArgs: string[], pulumiCalls?: () => number): Promise<number> {
    const plain = median(await time("ssh", plainArgs, env, COMMAND_RUNS));
    console.log(`${title}, medians of ${COMMAND_RUNS}:`);
    console.log(`  ${"plain ssh -F <config> <alias> true".padEnd(36)} ${plain.toFixed(1)} ms`);
    let own = Infinity;
    for (const [name, command, args] of commands(root)) {
        const before = pulumiCalls?.() ?? 0;
        const took = median(await time(command, args, env, COMMAND_RUNS));
        const calls = pulumiCalls ? `, ${((pulumiCalls() - before) / COMMAND_RUNS).toFixed(1)} Pulumi CLI calls each` : "";
        console.log(`  ${name.padEnd(36)} ${took.toFixed(1)} ms: own cost ${(took - plain).toFixed(1)} ms, ${(took / plain).toFixed(1)}x plain ssh${calls}`);
        if (command === "bash") {
            own = took - plain;
        }
    }
    return own;
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
        const fresh = await time("ssh", ["-F", config, "-o", "ControlPath=none", host, "true"], machine.env, ROUND_TRIPS);
        const shared = await time("ssh", ["-F", config, host, "true"], machine.env, ROUND_TRIPS);
        const ratio = median(fresh) / median(shared);
        console.log(`ssh true to sshd on 127.0.0.1:${machine.sshd.port}, ${ROUND_TRIPS} round trips each, through the config scripts/ssh writes:`);
        console.log(`  a new connection each time:  ${describe(fresh)}`);
        console.log(`  the shared connection:       ${describe(shared)}`);
        console.log(`  sharing is ${ratio.toFixed(1)}x faster (required: at least ${REQUIRED_SPEED_UP}x)`);

        const plainArgs = ["-F", config, host, "true"];
        const fromFile = await compare("With GPU_NOTEBOOK_OUTPUTS_FILE", ROOT, machine.env, plainArgs);

        // As a user has it: the outputs from the Pulumi CLI (the stand-in, on a local backend).
        mkdirSync(path.join(dir, "stand-in"));
        const stack = new StandInStack(path.join(dir, "stand-in"), STACK);
        stack.setConfig({});
        const env = { ...machine.env, ...stack.env(machine.env.PATH) };
        delete env.GPU_NOTEBOOK_OUTPUTS_FILE;
        const outputs = path.join(dir, "stand-in-outputs.json");
        writeFileSync(outputs, JSON.stringify({ values: machine.outputs, secrets: ["sshPrivateKey"] }), { mode: 0o600 });
        const deployed = spawnSync("pulumi", ["up", "--yes", "--stack", STACK], { cwd: stack.project, encoding: "utf8", env: { ...env, STAND_IN_OUTPUTS: outputs } });
        const firstCall = spawnSync("bash", [path.join(stack.project, "scripts", "ssh"), "true"], { env, encoding: "utf8" });
        if (deployed.status !== 0 || firstCall.status !== 0) {
            throw new Error(`the stand-in stack could not be deployed or reached: ${deployed.stderr}${firstCall.stderr}`);
        }
        const fromCli = await compare("Through the Pulumi CLI (the tests' stand-in), after a first call", stack.project, env, plainArgs,
            () => stack.calls().length);
        console.log(`bash scripts/ssh's own cost: ${fromFile.toFixed(1)} ms (outputs file), ${fromCli.toFixed(1)} ms (Pulumi CLI); ` +
            `required: under ${OWN_COST_LIMIT_MS} ms`);
        return ratio >= REQUIRED_SPEED_UP && Math.max(fromFile, fromCli) < OWN_COST_LIMIT_MS ? 0 : 1;
    } finally {
        await stopLocalMachine(machine);
        rmSync(dir, { recursive: true, force: true });
    }
}

main().then((code) => process.exit(code), (error) => {
    console.error(error);
    process.exit(1);
});
