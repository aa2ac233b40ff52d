#!/usr/bin/env node
// gpu-notebook COMMAND [ARGS...]: the commands of this checkout (its npm scripts) from any folder,
// such as your own project's: `gpu-notebook job -- python train.py` there is
// `npm run job -- python train.py` here, with local paths taken from the folder you are in.
// package.json's "bin" names it: `npm link` in the checkout puts it on your PATH once, or
// `npx --prefix ~/gpu-notebook gpu-notebook ...` runs it without.
// @ts-check
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const path = require("path");

// npm link and npx reach this file through symlinks; Node runs it from its real path, so this is
// the checkout whatever folder the command is typed in, and its Pulumi.yaml names the project.
const CHECKOUT = path.join(__dirname, "..");

/**
 * The user commands, one line each for --help. Every npm script but the maintainers' tools is
 * one (test/bin.test.ts checks the two lists agree).
 * @type {Record<string, string>}
 */
const COMMANDS = {
    up: "create or update the notebook (asks first)",
    plan: "what up would create, offline",
    notebook: "the URL and password; waits for the notebook and opens your browser",
    ssh: "a shell on the machine, or one command: gpu-notebook ssh nvidia-smi",
    copy: "copy files to or from the machine: gpu-notebook copy data.csv :notebooks/",
    job: "copy this folder to the machine and run a command there, detached",
    jobs: "the jobs on the machine",
    "job-logs": "a job's log (--follow to stream it)",
    "job-stop": "stop a job",
    status: "up or not, idle stop, jobs, GPU, disk, price",
    "notify-test": "send one test notification from the machine and say what happened",
    "setup-log": "the last run of your setup file on this machine (--run to run it again)",
    tunnel: "the notebook on https://127.0.0.1:<port>/ through SSH",
    stop: "stop the machine (disks and address kept)",
    start: "start it again",
    move: "move a stopped notebook to another zone",
    "allow-my-ip": "let the address you are at now reach the machine",
    notebooks: "the notebooks of a class and what they cost",
    handout: "a folder per person of a class with what they need",
    "ssh-config": "the machine's ssh config entry, for other tools",
    code: "open the machine's ~/notebooks in VS Code",
    destroy: "delete it all; your ~/notebooks is kept as a snapshot",
    pulumi: "Pulumi's own CLI on this project: gpu-notebook pulumi stack output",
};

function usage() {
    const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
    return [
        "Usage: gpu-notebook COMMAND [ARGS...]",
        `The commands of the gpu-notebook checkout in ${CHECKOUT}, from any folder: the same as`,
        "npm run COMMAND -- ARGS there, with local paths (copy, job's folder, handout --out, plan",
        "--config-file) taken from the folder you are in. The stack is the checkout's (dev, or",
        "GPU_NOTEBOOK_STACK).",
        "",
        "Commands:",
        ...Object.entries(COMMANDS).map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`),
        "",
        "gpu-notebook COMMAND --help (or gpu-notebook help COMMAND) prints a command's own help,",
        "written as npm run COMMAND -- ARGS: type gpu-notebook COMMAND ARGS instead.",
    ].join("\n");
}

/** Runs COMMAND's npm script as `npm run` would (sh -c, the checkout's node_modules/.bin first on PATH). */
function run(command, args) {
    const scripts = JSON.parse(fs.readFileSync(path.join(CHECKOUT, "package.json"), "utf8")).scripts;
    const child = spawn("sh", ["-c", `${scripts[command]} "$@"`, command, ...args], {
        cwd: CHECKOUT,
        stdio: "inherit",
        env: {
            ...process.env,
            // Where the user's relative paths start (scripts/lib/common.sh USER_DIR, plan's
            // --config-file): this folder, even when an npm run of the user's own set another.
            INIT_CWD: process.cwd(),
            PATH: [path.join(CHECKOUT, "node_modules", ".bin"), process.env.PATH].filter(Boolean).join(path.delimiter),
        },
    });
    // Ctrl-C reaches the command from the terminal itself: it decides (npm run notebook closes its
    // tunnel and exits 0). A signal sent to this process alone is passed on.
    process.on("SIGINT", () => undefined);
    for (const signal of /** @type {NodeJS.Signals[]} */ (["SIGTERM", "SIGHUP"])) {
        process.on(signal, () => child.kill(signal));
    }
    child.on("error", (error) => {
        console.error(`gpu-notebook: could not run ${command}: ${error.message}`);
        process.exit(1);
    });
    child.on("exit", (code, signal) => {
        if (signal) {
            // Ends the same way, so whoever called this sees what the command saw.
            process.removeAllListeners(signal);
            process.kill(process.pid, signal);
            return;
        }
        process.exit(code ?? 1);
    });
}

function main(argv) {
    const [first, ...rest] = argv;
    if (first === undefined || first === "-h" || first === "--help" || (first === "help" && rest.length === 0)) {
        console.log(usage());
        process.exit(first === undefined ? 2 : 0);
    }
    const [command, args] = first === "help" ? [rest[0], ["--help"]] : [first, rest];
    if (!Object.prototype.hasOwnProperty.call(COMMANDS, command)) {
        console.error(`gpu-notebook: ${command} is not a command; the commands: ${Object.keys(COMMANDS).join(", ")} (gpu-notebook --help)`);
        process.exit(2);
    }
    run(command, args);
}

main(process.argv.slice(2));
