#!/usr/bin/env node
// The test commands. `npm test` (node test/run.js) is the complete proof: the type-check and every
// test file, real servers and tools included. tsc is single-threaded and mocha's two workers often
// wait on servers and timers, so the two run side by side rather than one after the other.
// `npm run test:unit` (--unit) is the edit loop: the files that start no real server or tool, and
// no type-check (npm run typecheck). Extra arguments go to mocha (e.g. --grep).
"use strict";
const { spawn } = require("child_process");
const { readdirSync } = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");

/**
 * Files that start real servers (sshd, Jupyter, Chromium) or run the real scripts and on-machine
 * programs against them. A file missing here that starts one fails under --unit, saying so.
 */
const SYSTEM_SUITES = [
    "bin", "boot-bundle", "boot-proof", "capacity-scripts", "environment", "fleet-scripts", "gpu-notebook-job",
    "idle-watcher", "jobs", "mount-data-volume", "move-scripts", "notify-scripts", "plan", "query", "quick-start",
    "scripts", "scripts-readonly", "scripts-up", "shell-scripts", "ssh-command", "stand-in", "unattended",
];

/**
 * The costliest files, most first (CPU seconds, one at a time: test/bench/test-times.sh). Mocha's
 * two workers take files in the order given, so these start first and the short ones fill the
 * gaps at the end, instead of the run waiting on one long file that happened to sort last.
 */
const SLOWEST_FIRST = [
    "scripts-up", "unattended", "idle-watcher", "scripts", "move-scripts", "shell-scripts", "jobs", "fleet-scripts", "scripts-readonly",
    "boot-proof", "environment", "notify-scripts", "query", "bin", "quick-start", "capacity-program", "plan", "capacity-scripts", "notebook",
    "preflight", "fleet",
];

const args = process.argv.slice(2);
const unit = args[0] === "--unit";
const mochaArgs = unit ? args.slice(1) : args;
const bin = (name) => path.join(root, "node_modules", ".bin", name);

/** Runs a command; resolves with its exit status, and what it printed when its output is piped. */
function run(command, commandArgs, options) {
    const child = spawn(command, commandArgs, { cwd: root, ...options });
    let output = "";
    for (const stream of [child.stdout, child.stderr]) {
        stream?.on("data", (chunk) => { output += chunk; });
    }
    return new Promise((resolve) => child.once("close", (status) => resolve({ status: status ?? 1, output })));
}

/** A file's place in SLOWEST_FIRST; the others after them, by name. */
function rank(file) {
    const index = SLOWEST_FIRST.indexOf(file.replace(/\.test\.ts$/, ""));
    return index === -1 ? SLOWEST_FIRST.length : index;
}

async function main() {
    const files = readdirSync(path.join(__dirname)).filter((name) => name.endsWith(".test.ts"))
        .filter((name) => !unit || !SYSTEM_SUITES.includes(name.replace(/\.test\.ts$/, "")))
        .sort((a, b) => rank(a) - rank(b))
        .map((name) => path.join("test", name));
    const env = unit ? { ...process.env, GPU_NOTEBOOK_UNIT_TESTS: "1" } : process.env;
    // The whole run takes four workers on two cores: its files often wait (on sshd, Jupyter, the
    // job runner's timers), and with two workers a core sat idle a third of the time (measured:
    // 108 s wall with 2, 91-99 s with 4, the same tests). The unit files only compute: two.
    const jobs = unit ? [] : ["--jobs", "4"];
    const tests = run(bin("mocha"), [...files, ...jobs, ...mochaArgs], { stdio: "inherit", env });
    if (unit) {
        return (await tests).status;
    }
    // Its build info lives outside the tree (node_modules/.cache), so a re-run checks only what changed.
    const typeCheck = run(bin("tsc"), ["--noEmit", "--incremental", "--tsBuildInfoFile", path.join("node_modules", ".cache", "tsc", "tsbuildinfo")],
        { stdio: ["ignore", "pipe", "pipe"] });
    const [testRun, typeCheckRun] = await Promise.all([tests, typeCheck]);
    process.stdout.write(typeCheckRun.status === 0 ? "tsc --noEmit: no type errors\n" : `\ntsc --noEmit found errors:\n${typeCheckRun.output}`);
    return testRun.status !== 0 ? testRun.status : typeCheckRun.status;
}

main().then((status) => process.exit(status));
